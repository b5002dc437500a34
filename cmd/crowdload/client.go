package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
)

// client makes the JSON calls that the subcommands share: admin calls with
// the admin token, and fan calls with a queue token.
type client struct {
	http  *http.Client
	token string
}

func (c *client) admitted(ctx context.Context, base, room string) (int64, error) {
	var r struct {
		Stats struct {
			AdmittedTotal int64 `json:"admitted_total"`
		} `json:"stats"`
	}
	err := c.do(ctx, "GET", base+"/admin/v1/rooms/"+room, "", true, &r)
	return r.Stats.AdmittedTotal, err
}

func (c *client) do(ctx context.Context, method, url, body string, admin bool, out any) error {
	tok := ""
	if admin {
		tok = c.token
	}
	return c.send(ctx, method, url, body, tok, out)
}

func (c *client) doAuth(ctx context.Context, method, url, token string, out any) error {
	return c.send(ctx, method, url, "", token, out)
}

func (c *client) send(ctx context.Context, method, url, body, token string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, url, res.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// parallel runs fn(0..n-1) on at most workers goroutines and returns the
// first error.
func parallel(ctx context.Context, n, workers int, fn func(int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan int)
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// joinAll joins n fans to room, fan i through bases[i % len(bases)], 64 at
// a time, and returns each fan's queue token and, when the join admitted
// them at once (a passthrough room), admission token.
func (c *client) joinAll(ctx context.Context, bases []string, room string, n int) (queueTokens, admissionTokens []string, err error) {
	queueTokens, admissionTokens = make([]string, n), make([]string, n)
	err = parallel(ctx, n, 64, func(i int) error {
		var t struct {
			QueueToken     string `json:"queue_token"`
			AdmissionToken string `json:"admission_token"`
		}
		err := c.do(ctx, "POST", bases[i%len(bases)]+"/api/v1/rooms/"+room+"/join", "", false, &t)
		queueTokens[i], admissionTokens[i] = t.QueueToken, t.AdmissionToken
		return err
	})
	return queueTokens, admissionTokens, err
}
