// Command coredns is CoreDNS cut down to what the test cluster needs: the
// kubernetes plugin answering for cluster.local, run as a host process
// because no image can be pulled. It is CoreDNS's own coremain.Run with a
// hand-picked plugin set, so the build skips the cloud providers, etcd,
// dnstap, geoip and the other plugins the stock binary links in.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	// Each import registers its Corefile directive in init.
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
)

// directives replaces CoreDNS's generated list, which names every stock
// plugin: a Corefile may only use listed directives, and a request passes
// through the plugins in this order. The kubernetes plugin also registers
// metadata and transfer through its imports; they stay unlisted, so unused.
var directives = []string{
	"bind",
	"errors",
	"log",
	"kubernetes",
}

func main() {
	dnsserver.Directives = directives
	coremain.Run()
}
