// Command cert-manager-controller runs cert-manager's own controllers
// (v1.14.7, from the Go module) out of cluster against the test cluster of
// tests/cluster/up, so that the chart's Issuers and Certificates are really
// issued. Upstream's main lives in a nested module that the Go module proxy
// does not serve, so this small one stands in for it: no leader election, no
// webhook, no metrics or health servers, and only the controllers the chart
// needs (self-signed and CA issuers).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/cert-manager/cert-manager/pkg/controller"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/metrics"

	// Each package registers its controller with controller.Register in its
	// init(); the set started below is exactly what is imported here.
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	_ "github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	_ "github.com/cert-manager/cert-manager/pkg/controller/issuers"
	// The (cluster)issuers controllers look issuer kinds up in a registry
	// that these fill, also from init(); nothing else imports them.
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

// readyLine is what tests/cluster/cert-manager-up waits for in the log.
const readyLine = "cert-manager: controllers ready"

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the cluster to manage")
	clusterNS := flag.String("cluster-resource-namespace", "kube-system", "namespace of the Secrets that ClusterIssuers refer to")
	workers := flag.Int("workers", 5, "workers per controller")
	klog.InitFlags(nil)
	// cert-manager logs what it does (issued, approved, ...) at level 2.
	_ = flag.Set("v", "2")
	flag.Parse()
	if err := run(*kubeconfig, *clusterNS, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "cert-manager:", err)
		os.Exit(1)
	}
}

func run(kubeconfig, clusterNS string, workers int) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx = logf.NewContext(ctx, logf.Log)

	// Upstream's defaults for the API rate limits; the controllers read the
	// clock and metrics from the options and fail without them.
	factory, err := controller.NewContextFactory(ctx, controller.ContextOptions{
		Kubeconfig:         kubeconfig,
		KubernetesAPIQPS:   20,
		KubernetesAPIBurst: 50,
		Clock:              clock.RealClock{},
		Metrics:            metrics.New(logf.Log, clock.RealClock{}),
		IssuerOptions:      controller.IssuerOptions{ClusterResourceNamespace: clusterNS},
	})
	if err != nil {
		return err
	}

	// Constructing a controller registers the informers it needs on the
	// shared factories, so all must be built before the informers start.
	names := make([]string, 0, len(controller.Known()))
	for name := range controller.Known() {
		names = append(names, name)
	}
	sort.Strings(names)
	ctrls := make([]controller.Interface, len(names))
	for i, name := range names {
		if ctrls[i], err = controller.Known()[name](factory); err != nil {
			return fmt.Errorf("controller %s: %w", name, err)
		}
	}

	// Every Context built by the factory shares the same informer factories.
	shared, err := factory.Build()
	if err != nil {
		return err
	}
	shared.KubeSharedInformerFactory.Start(ctx.Done())
	shared.SharedInformerFactory.Start(ctx.Done())
	for typ, ok := range shared.KubeSharedInformerFactory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("informer for %v did not sync", typ)
		}
	}
	for typ, ok := range shared.SharedInformerFactory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("informer for %v did not sync", typ)
		}
	}

	errs := make(chan error, len(ctrls))
	for i, c := range ctrls {
		go func(name string, c controller.Interface) {
			if err := c.Run(workers, ctx.Done()); err != nil {
				errs <- fmt.Errorf("controller %s: %w", name, err)
			}
		}(names[i], c)
	}
	fmt.Fprintf(os.Stderr, "%s: %v\n", readyLine, names)

	select {
	case err := <-errs:
		return err
	case <-ctx.Done():
		return nil
	}
}
