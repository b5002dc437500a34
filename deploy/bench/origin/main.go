// Command origin is the site behind Crowdgate in the reverse-proxy
// benchmark (deploy/bench/reverse-proxy.sh): a trivial page by default, or
// with -rows N a page rendered per request from an html/template table of
// N rows, to stand for an origin that does work for each page.
//
// With -capacity N it is an origin slowed on purpose, for the origin
// autopilot's benchmark (deploy/bench/origin-autopilot.sh): it serves at
// most N requests at once, each holding its slot for -service (a sleep,
// so the box's CPU stays free); the others wait for a slot, which is how
// it gets slower as concurrency rises, and one that waits longer than
// -queue-timeout gets a 503, as an overloaded site's load balancer would
// answer.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"html/template"
	"log"
	"net/http"
	"strings"
	"sync"
	"time"
)

var page = template.Must(template.New("page").Parse(`<!doctype html>
<title>{{.Title}}</title>
<table>{{range .Rows}}<tr><td>{{.Seat}}</td><td>{{.Section}}</td><td>{{.Price}}</td></tr>
{{end}}</table>`))

type row struct {
	Seat, Section string
	Price         float64
}

func main() {
	addr := flag.String("addr", "127.0.0.1:18090", "listen address")
	rows := flag.Int("rows", 0, "render a table of this many rows per request; 0 = a fixed 1 KiB page")
	capacity := flag.Int("capacity", 0, "serve at most this many requests at once (0: no limit)")
	service := flag.Duration("service", 40*time.Millisecond, "with -capacity: how long each request holds its slot")
	queueTimeout := flag.Duration("queue-timeout", time.Second, "with -capacity: a request that waits longer for a slot gets 503")
	flag.Parse()

	static := []byte("<!doctype html><title>origin</title>" + strings.Repeat("x", 1024-36))
	data := struct {
		Title string
		Rows  []row
	}{Title: "Seats"}
	for i := range *rows {
		data.Rows = append(data.Rows, row{Seat: fmt.Sprintf("R%d-%d", i/20, i%20), Section: "Stand <B>", Price: 49.5 + float64(i%7)})
	}
	bufs := sync.Pool{New: func() any { return new(bytes.Buffer) }}
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if *rows == 0 {
			_, _ = w.Write(static)
			return
		}
		b := bufs.Get().(*bytes.Buffer)
		defer bufs.Put(b)
		b.Reset()
		if err := page.Execute(b, data); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = w.Write(b.Bytes())
	})
	if *capacity > 0 {
		h = limited(h, *capacity, *service, *queueTimeout)
	}
	log.Fatal(http.ListenAndServe(*addr, h))
}

// limited serves at most capacity requests at once, each for at least
// service; a request that waits longer than wait for a slot gets 503.
func limited(h http.Handler, capacity int, service, wait time.Duration) http.Handler {
	slots := make(chan struct{}, capacity)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case slots <- struct{}{}:
		case <-t.C:
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
			return
		case <-r.Context().Done():
			return
		}
		defer func() { <-slots }()
		time.Sleep(service)
		h.ServeHTTP(w, r)
	})
}
