// Command goproxy is the reference in the reverse-proxy benchmark
// (deploy/bench/reverse-proxy.sh) for what Go's own stack costs: an
// httputil.ReverseProxy to the origin and nothing else, no routes, no
// tokens, no metrics, with the same transport pool sizes as Crowdgate's.
package main

import (
	"flag"
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18091", "listen address")
	upstream := flag.String("upstream", "http://127.0.0.1:18090", "origin")
	flag.Parse()
	up, err := url.Parse(*upstream)
	if err != nil {
		log.Fatal(err)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(up)
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		},
		Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 256},
		// wrk hangs up mid-request when a run ends: not worth a line each.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	log.Fatal(http.ListenAndServe(*addr, rp))
}
