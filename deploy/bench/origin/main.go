// Command origin is the site behind Crowdgate in the reverse-proxy
// benchmark (deploy/bench/reverse-proxy.sh): a trivial page by default, or
// with -rows N a page rendered per request from an html/template table of
// N rows, to stand for an origin that does work for each page.
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
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	log.Fatal(http.ListenAndServe(*addr, h))
}
