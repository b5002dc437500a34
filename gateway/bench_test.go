package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkForwardAuthHandler is the cost of one forward-auth check of an
// admitted visitor inside the gateway, without the network: routing,
// middleware, the verified-token cache and the response.
func BenchmarkForwardAuthHandler(b *testing.B) {
	s := newStack(b)
	s.putRoom("launch", `{"passthrough": true}`)
	at := s.do("POST", "/api/v1/rooms/launch/join", "").json(b)["admission_token"].(string)
	h := s.srv.Config.Handler
	req := httptest.NewRequest("GET", "/auth/v1/check?room=launch", nil)
	req.Header.Set("Authorization", "Bearer "+at)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("status %d", w.Code)
			}
		}
	})
}

// BenchmarkJoinHandler is the cost of one new join inside the gateway,
// Redis round trip included (a private redis-server on a unix socket).
func BenchmarkJoinHandler(b *testing.B) {
	// Every request comes from httptest's one address (192.0.2.1): exempt
	// it, so this measures the join itself, not the per-address limit.
	s := newStackWith(b, stackOptions{bypass: "192.0.2.0/24"})
	s.putRoom("launch", `{"admit_per_minute": 0, "session_seconds": 900}`)
	h := s.srv.Config.Handler
	b.SetParallelism(32) // many joins in flight, as in a surge
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest("POST", "/api/v1/rooms/launch/join", nil)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "joins/s")
}

// BenchmarkRoomPage is the cost of one waiting-room page inside the
// gateway: Crowdgate's own page, and the same room laid out by its
// organizer's template (rendered and checked on every load).
func BenchmarkRoomPage(b *testing.B) {
	s := newStack(b)
	s.putRoom("plain", `{"admit_per_minute": 60, "title": "Final"}`)
	s.putRoom("own", `{"admit_per_minute": 60, "title": "Final", "logo_url": "/logo.png"}`)
	if r := s.do("PUT", "/admin/v1/rooms/own/template", ownTemplate, "Authorization", "Bearer "+adminToken); r.status != http.StatusOK {
		b.Fatalf("template: %d %s", r.status, r.body)
	}
	h := s.srv.Config.Handler
	for _, room := range []string{"plain", "own"} {
		b.Run(room, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/rooms/"+room, nil)
			req.Header.Set("Accept", "text/html")
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}
