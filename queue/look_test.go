package queue_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/crowdgate/crowdgate/queue"
)

func TestRoomLookRoundTrip(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		s := mustStore(t, rdb, newClock())
		want := queue.Room{Name: "look", SessionSeconds: 600, Mode: queue.ModeFIFO, LogoURL: "https://cdn.example.com/logo.svg", LogoAlt: "Example Live"}
		want.SetEmbedOrigins([]string{"https://shop.example.com", "http://localhost:8080"})
		if _, err := s.PutRoom(ctx, want); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetRoom(ctx, "look")
		if err != nil {
			t.Fatal(err)
		}
		got.CreatedAt, got.UpdatedAt = want.CreatedAt, want.UpdatedAt
		if got != want.WithDefaults() {
			t.Fatalf("got %+v\nwant %+v", got, want.WithDefaults())
		}
		if o := got.EmbedOrigins(); len(o) != 2 || o[1] != "http://localhost:8080" {
			t.Fatalf("embed origins %q", o)
		}
		if got.LogoOrigin() != "https://cdn.example.com" {
			t.Fatalf("logo origin %q", got.LogoOrigin())
		}
	})
}

func TestRoomLookValidation(t *testing.T) {
	base := queue.Room{Name: "look", SessionSeconds: 600, Mode: queue.ModeFIFO}
	for _, logo := range []string{"javascript:alert(1)", "http://cdn.example.com/x.png", "//cdn.example.com/x.png", "https://a b/x.png", "https://cdn.example.com;script-src/x", "ftp://x/y", "https://u:p@cdn.example.com/x"} {
		r := base
		r.LogoURL = logo
		if err := r.Validate(); !errors.Is(err, queue.ErrInvalidRoom) {
			t.Errorf("logo %q: %v", logo, err)
		}
	}
	for _, logo := range []string{"/static/logo.png", "https://cdn.example.com/a/logo.svg?v=2", "http://127.0.0.1:9000/l.png"} {
		r := base
		r.LogoURL = logo
		if err := r.Validate(); err != nil {
			t.Errorf("logo %q: %v", logo, err)
		}
	}
	for _, origins := range [][]string{{"https://shop.example.com/path"}, {"http://shop.example.com"}, {"*"}, {"'self'"}, {"https://shop.example.com?x"}, {"https://Shop.example.com"}, {"https://a.example", "https://a.example"}, {"https://x;y"}} {
		r := base
		r.SetEmbedOrigins(origins)
		if err := r.Validate(); !errors.Is(err, queue.ErrInvalidRoom) {
			t.Errorf("embed %q: %v", origins, err)
		}
	}
	r := base
	r.SetEmbedOrigins(strings.Fields(strings.Repeat("https://a.example ", 17)))
	if err := r.Validate(); !errors.Is(err, queue.ErrInvalidRoom) {
		t.Errorf("17 origins: %v", err)
	}
	r.LogoAlt = strings.Repeat("é", queue.MaxLogoAlt+1)
	if err := r.Validate(); !errors.Is(err, queue.ErrInvalidRoom) {
		t.Errorf("long alt: %v", err)
	}
}

func TestPageTemplateStore(t *testing.T) {
	t.Parallel()
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		s := mustStore(t, rdb, newClock())
		if _, err := s.PutPageTemplate(ctx, "nope", "<p>x</p>"); !errors.Is(err, queue.ErrRoomNotFound) {
			t.Fatalf("template of a missing room: %v", err)
		}
		room := queue.Room{Name: "tpl", SessionSeconds: 600, Mode: queue.ModeFIFO, Title: "One"}
		if _, err := s.PutRoom(ctx, room); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PageTemplate(ctx, "tpl"); !errors.Is(err, queue.ErrNoPageTemplate) {
			t.Fatalf("no template yet: %v", err)
		}
		text := "<header>Ours</header>{{.WaitingRoom}}"
		sha, err := s.PutPageTemplate(ctx, "tpl", text)
		if err != nil || sha != queue.PageTemplateSHA256(text) {
			t.Fatalf("put: %q %v", sha, err)
		}
		if _, err := s.PutPageTemplate(ctx, "tpl", strings.Repeat("x", queue.MaxPageTemplateBytes+1)); !errors.Is(err, queue.ErrInvalidRoom) {
			t.Fatalf("oversized template: %v", err)
		}
		// A new configuration (PUT) keeps the template; a change (PATCH) too.
		room.Title = "Two"
		if _, err := s.PutRoom(ctx, room); err != nil {
			t.Fatal(err)
		}
		got, _ := s.GetRoom(ctx, "tpl")
		next := got
		next.Message = "hello"
		if err := s.UpdateRoom(ctx, got, next); err != nil {
			t.Fatal(err)
		}
		got, _ = s.GetRoom(ctx, "tpl")
		if got.PageTemplate != sha || got.Title != "Two" || got.Message != "hello" {
			t.Fatalf("after PUT and PATCH: %+v", got)
		}
		if stored, err := s.PageTemplate(ctx, "tpl"); err != nil || stored != text {
			t.Fatalf("stored %q %v", stored, err)
		}
		if err := s.DeletePageTemplate(ctx, "tpl"); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetRoom(ctx, "tpl"); got.PageTemplate != "" {
			t.Fatalf("deleted template still named: %q", got.PageTemplate)
		}
		if _, err := s.PageTemplate(ctx, "tpl"); !errors.Is(err, queue.ErrNoPageTemplate) {
			t.Fatalf("deleted template: %v", err)
		}
		// Deleting the room deletes its template.
		if _, err := s.PutPageTemplate(ctx, "tpl", text); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteRoom(ctx, "tpl"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PageTemplate(ctx, "tpl"); !errors.Is(err, queue.ErrNoPageTemplate) {
			t.Fatalf("template of a deleted room: %v", err)
		}
	})
}

// FuzzLook: an origin or logo a room accepts can go into the page's policy
// as it is (nothing that ends or splits a directive), and reads back the same.
func FuzzLook(f *testing.F) {
	for _, s := range []string{"https://shop.example.com", "http://localhost:8080", "https://a.b:443/", "https://x;y", "https://a b", "javascript:x", "/static/l.png", "https://cdn.example.com/l.svg?v=1", "http://[::1]:80", "https://é.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if o, ok := queue.ParseEmbedOrigin(s); ok {
			if strings.ContainsAny(o, " ;,'\"\t\r\n") {
				t.Fatalf("origin %q from %q would break the policy", o, s)
			}
			again, ok := queue.ParseEmbedOrigin(o)
			if !ok || again != o {
				t.Fatalf("origin %q reads back as %q %v", o, again, ok)
			}
			r := queue.Room{Name: "f", SessionSeconds: 60, Mode: queue.ModeFIFO}
			r.SetEmbedOrigins([]string{o})
			if err := r.Validate(); err != nil {
				t.Fatalf("origin %q refused by the room: %v", o, err)
			}
		}
		r := queue.Room{Name: "f", SessionSeconds: 60, Mode: queue.ModeFIFO, LogoURL: s}
		if r.Validate() == nil && strings.ContainsAny(r.LogoOrigin(), " ;,'\"\t\r\n") {
			t.Fatalf("logo %q has origin %q", s, r.LogoOrigin())
		}
	})
}
