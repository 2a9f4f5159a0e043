// Command anywhere-argocd runs the two Argo CD components the GitOps test
// needs, the repo server and the application controller, from Argo CD's own
// command packages. Upstream's main links every component (API server, Dex,
// the CLI, notifications); leaving those out makes the build on two cores
// markedly shorter. tests/cluster/build-gitops copies this file into a copy
// of the Argo CD module and builds it there.
//
//	anywhere-argocd repo-server [flags]
//	anywhere-argocd application-controller [flags]
package main

import (
	"fmt"
	"os"

	appcontroller "github.com/argoproj/argo-cd/v3/cmd/argocd-application-controller/commands"
	reposerver "github.com/argoproj/argo-cd/v3/cmd/argocd-repo-server/commands"
	"github.com/spf13/cobra"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: anywhere-argocd repo-server|application-controller [flags]")
		os.Exit(2)
	}
	var command *cobra.Command
	switch os.Args[1] {
	case "repo-server":
		command = reposerver.NewCommand()
	case "application-controller":
		command = appcontroller.NewCommand()
	default:
		fmt.Fprintf(os.Stderr, "anywhere-argocd: unknown component %q (repo-server or application-controller)\n", os.Args[1])
		os.Exit(2)
	}
	command.SetArgs(os.Args[2:])
	if err := command.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
