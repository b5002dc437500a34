package guard_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/admission"
	"github.com/crowdgate/crowdgate/admission/admissiontest"
	"github.com/crowdgate/crowdgate/guard"
)

// An origin written with net/http guards its checkout with the room "launch". Visitors
// that Crowdgate admitted carry the cookie cg_a_launch; the others go to the waiting room.
func ExampleVerifier_Middleware() {
	crowdgate := startCrowdgate() // stands in for https://crowdgate.example
	defer crowdgate.Close()

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	v, err := guard.New(ctx, guard.Config{
		JWKSURL: crowdgate.URL + "/.well-known/jwks.json",
		Room:    "launch",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	go v.Run(ctx) // keeps the key set fresh until stop

	mux := http.NewServeMux()
	mux.Handle("/checkout/", v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := guard.FromContext(r.Context())
		fmt.Fprintf(w, "checkout for %s", claims.Subject)
	})))
	origin := httptest.NewServer(mux)
	defer origin.Close()

	// Show redirects instead of following them.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	res, err := client.Get(origin.URL + "/checkout/cart")
	if err != nil {
		fmt.Println(err)
		return
	}
	res.Body.Close()
	fmt.Println(res.StatusCode, strings.TrimPrefix(res.Header.Get("Location"), crowdgate.URL))

	req, _ := http.NewRequest("GET", origin.URL+"/checkout/cart", nil)
	req.AddCookie(&http.Cookie{Name: "cg_a_launch", Value: crowdgate.Admit("launch", "q-1")})
	res, err = client.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	var body bytes.Buffer
	_, _ = body.ReadFrom(res.Body)
	res.Body.Close()
	fmt.Println(res.StatusCode, body.String())
	// Output:
	// 302 /rooms/launch?return_to=%2Fcheckout%2Fcart
	// 200 checkout for q-1
}

// The same middleware in echo, through echo.WrapMiddleware; guard itself does not import
// echo. An app that joins the line through the API sends the token as a bearer token, and
// asks for JSON, so it gets a 401 rather than a redirect.
func ExampleVerifier_Middleware_echo() {
	crowdgate := startCrowdgate()
	defer crowdgate.Close()

	v, err := guard.New(context.Background(), guard.Config{
		JWKSURL: crowdgate.URL + "/.well-known/jwks.json",
		Room:    "launch",
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	e := echo.New()
	api := e.Group("/api", echo.WrapMiddleware(v.Middleware))
	api.POST("/orders", func(c echo.Context) error {
		claims, _ := guard.FromContext(c.Request().Context())
		return c.JSON(http.StatusCreated, map[string]string{"queue_id": claims.Subject})
	})

	req := httptest.NewRequest("POST", "/api/orders", nil)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+crowdgate.Admit("launch", "q-2"))
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	fmt.Print(rec.Code, " ", rec.Body)

	req = httptest.NewRequest("POST", "/api/orders", nil)
	req.Header.Set("Accept", "application/json")
	rec = httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	fmt.Print(rec.Code, " ", rec.Body, "\n")
	// Output:
	// 201 {"queue_id":"q-2"}
	// 401 {"error":{"code":"unauthorized","message":"an admission token for room launch is required; wait in the room"}}
}

// Verify checks a token without HTTP, e.g. one a WebSocket or gRPC client sent.
func ExampleVerifier_Verify() {
	crowdgate := startCrowdgate()
	defer crowdgate.Close()

	v, err := guard.New(context.Background(), guard.Config{
		JWKSURL: crowdgate.URL + "/.well-known/jwks.json",
		Room:    "launch",
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	claims, err := v.Verify(crowdgate.Admit("launch", "q-3"))
	fmt.Println(claims.Room, claims.Subject, err)

	_, err = v.Verify(crowdgate.Admit("encore", "q-3"))
	fmt.Println(errors.Is(err, guard.ErrWrongRoom))

	_, err = v.Verify("eyJhbGciOiJub25lIn0.eyJhdWQiOiJsYXVuY2gifQ.")
	fmt.Println(errors.Is(err, guard.ErrInvalid))
	// Output:
	// launch q-3 <nil>
	// true
	// true
}

// An admission Crowdgate ends early (the fan gave up the place, the origin released it)
// stops passing here too: Run polls the room's revocation list, and Verify refuses what it
// names with ErrRevoked.
func ExampleVerifier_revocations() {
	crowdgate := startCrowdgate()
	defer crowdgate.Close()

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	v, err := guard.New(ctx, guard.Config{
		JWKSURL:          crowdgate.URL + "/.well-known/jwks.json",
		Room:             "launch",
		RevocationsEvery: 10 * time.Millisecond, // default 2 s
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	go v.Run(ctx)

	token := crowdgate.Admit("launch", "q-4")
	_, err = v.Verify(token)
	fmt.Println(err)

	crowdgate.Release("launch", "q-4")
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err = v.Verify(token); err != nil {
			break
		}
	}
	fmt.Println(errors.Is(err, guard.ErrRevoked))
	// Output:
	// <nil>
	// true
}

// fakeCrowdgate is the part of a Crowdgate deployment an origin sees: the key set at
// /.well-known/jwks.json, the rooms' revocation lists at
// /api/v1/rooms/{room}/revocations, and admission tokens signed by the same
// admission.Keyring that `crowdgate serve` uses.
type fakeCrowdgate struct {
	*httptest.Server
	keys    *admission.Keyring
	mu      sync.Mutex
	revoked map[string][]map[string]any // room → [{"jti","exp"}]
}

func startCrowdgate() *fakeCrowdgate {
	keys, err := admission.NewKeyring(context.Background(), &admissiontest.KeyStore{}, admission.KeyringConfig{})
	if err != nil {
		panic(err) // no store to fail: cannot happen
	}
	c := &fakeCrowdgate{keys: keys, revoked: map[string][]map[string]any{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(keys.JWKS())
	})
	mux.HandleFunc("GET /api/v1/rooms/{room}/revocations", func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		defer c.mu.Unlock()
		room := r.PathValue("room")
		list := append([]map[string]any{}, c.revoked[room]...)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"room": room, "exists": true, "min_iat": 0, "revoked": list})
	})
	c.Server = httptest.NewServer(mux)
	return c
}

// Admit returns the admission token Crowdgate gives queue id q when it admits it to room.
func (c *fakeCrowdgate) Admit(room, q string) string {
	now := time.Now()
	tok, err := c.keys.Sign(admission.Pass{
		Room: room, Subject: q, ID: "adm-" + q,
		IssuedAt: now, NotBefore: now, Expires: now.Add(15 * time.Minute),
	})
	if err != nil {
		panic(err)
	}
	return tok
}

// Release ends queue id q's admission to room early, as the fan giving up the place or
// POST /api/v1/rooms/{room}/release does: its jti goes on the room's revocation list.
func (c *fakeCrowdgate) Release(room, q string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.revoked[room] = append(c.revoked[room], map[string]any{"jti": "adm-" + q, "exp": time.Now().Add(15 * time.Minute).Unix()})
}
