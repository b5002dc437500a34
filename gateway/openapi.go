package gateway

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"
	"sigs.k8s.io/yaml"
)

// The HTTP API as an OpenAPI 3.1 document: openapi.yaml, written by hand
// and kept true by openapi_test.go, which sends real requests to every
// operation in it and validates them and their answers against it. The
// gateway serves it as YAML and JSON, and renders it here, once, into a
// self-contained reference page: no script, no fetches, so it reads the
// same offline.

//go:embed openapi.yaml
var openapiYAML []byte

// The API document's paths.
const (
	openapiYAMLPath  = "/api/v1/openapi.yaml"
	openapiJSONPath  = "/api/v1/openapi.json"
	apiReferencePath = "/api/v1/docs"
)

// apiDoc is the document in the forms the gateway serves it, made on the
// first request for one: rendering takes some 15 ms, which every start of
// the binary (a CLI command too) would otherwise pay.
var apiDoc = sync.OnceValue(func() *loadedAPIDoc { return mustLoadAPIDoc(openapiYAML) })

type loadedAPIDoc struct {
	json []byte // the document as JSON
	page []byte // the reference page
	csp  string // the page's Content-Security-Policy: its one stylesheet, nothing else
}

// apiDocRoutes serves the API document and its reference page. They are
// GETs of public, static text: no credential, no store.
func (s *Server) apiDocRoutes(e *echo.Echo) {
	e.GET(openapiYAMLPath, func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "public, max-age=300")
		return c.Blob(http.StatusOK, "application/yaml", openapiYAML)
	})
	e.GET(openapiJSONPath, func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "public, max-age=300")
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, apiDoc().json)
	})
	e.GET(apiReferencePath, func(c echo.Context) error {
		doc, h := apiDoc(), c.Response().Header()
		h.Set("Content-Security-Policy", doc.csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "public, max-age=300")
		return c.HTMLBlob(http.StatusOK, doc.page)
	})
}

// mustLoadAPIDoc converts and renders the embedded document. It panics on
// a document that does not parse, as the embedded pages' loading does:
// openapi_test.go, which reads every form of it, fails first.
func mustLoadAPIDoc(doc []byte) *loadedAPIDoc {
	j, err := yaml.YAMLToJSON(doc)
	if err != nil {
		panic("gateway: openapi.yaml: " + err.Error())
	}
	var d oaDoc
	if err := json.Unmarshal(j, &d); err != nil {
		panic("gateway: openapi.yaml: " + err.Error())
	}
	var page bytes.Buffer
	if err := referenceTemplate.Execute(&page, d.view()); err != nil {
		panic("gateway: openapi.yaml: " + err.Error())
	}
	sum := sha256.Sum256([]byte(referenceCSS))
	csp := "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; " +
		"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	return &loadedAPIDoc{json: j, page: page.Bytes(), csp: csp}
}

// The part of OpenAPI 3.1 the reference page shows.

type oaDoc struct {
	Info struct {
		Title, Version, Summary, Description string
	} `json:"info"`
	Tags       []oaTag                               `json:"tags"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		SecuritySchemes map[string]oaSecurityScheme `json:"securitySchemes"`
		Parameters      map[string]*oaParameter     `json:"parameters"`
		Responses       map[string]*oaResponse      `json:"responses"`
		Headers         map[string]*oaParameter     `json:"headers"`
		Schemas         map[string]*oaSchema        `json:"schemas"`
	} `json:"components"`
	Pages oaRouteNote `json:"x-crowdgate-pages"`
	Proxy oaRouteNote `json:"x-crowdgate-proxy"`
}

type oaTag struct {
	Name, Description string
}

type oaOperation struct {
	OperationID string                 `json:"operationId"`
	Tags        []string               `json:"tags"`
	Summary     string                 `json:"summary"`
	Description string                 `json:"description"`
	Security    []map[string][]string  `json:"security"`
	Parameters  []*oaParameter         `json:"parameters"`
	RequestBody *oaRequestBody         `json:"requestBody"`
	Responses   map[string]*oaResponse `json:"responses"`
}

type oaParameter struct {
	Ref         string    `json:"$ref"`
	Name        string    `json:"name"`
	In          string    `json:"in"`
	Required    bool      `json:"required"`
	Description string    `json:"description"`
	Schema      *oaSchema `json:"schema"`
}

type oaRequestBody struct {
	Required bool                   `json:"required"`
	Content  map[string]oaMediaType `json:"content"`
}

type oaMediaType struct {
	Schema *oaSchema `json:"schema"`
}

type oaResponse struct {
	Ref         string                  `json:"$ref"`
	Description string                  `json:"description"`
	Headers     map[string]*oaParameter `json:"headers"`
	Content     map[string]oaMediaType  `json:"content"`
}

type oaSecurityScheme struct {
	Type, Scheme, BearerFormat, In, Name, Description string
}

type oaRouteNote struct {
	Description string `json:"description"`
	Routes      []struct {
		Methods []string `json:"methods"`
		Path    string   `json:"path"`
		Summary string   `json:"summary"`
	} `json:"routes"`
}

// oaSchema is a JSON Schema (2020-12) as far as the page shows it.
type oaSchema struct {
	Ref                   string               `json:"$ref"`
	Title                 string               `json:"title"`
	Description           string               `json:"description"`
	Type                  json.RawMessage      `json:"type"` // a name or a list of names
	Properties            map[string]*oaSchema `json:"properties"`
	Required              []string             `json:"required"`
	AdditionalProperties  json.RawMessage      `json:"additionalProperties"` // false or a schema
	UnevaluatedProperties json.RawMessage      `json:"unevaluatedProperties"`
	PropertyNames         *oaSchema            `json:"propertyNames"`
	Items                 *oaSchema            `json:"items"`
	AllOf                 []*oaSchema          `json:"allOf"`
	OneOf                 []*oaSchema          `json:"oneOf"`
	Enum                  []json.RawMessage    `json:"enum"`
	Const                 json.RawMessage      `json:"const"`
	Format                string               `json:"format"`
	Pattern               string               `json:"pattern"`
	Minimum               *float64             `json:"minimum"`
	Maximum               *float64             `json:"maximum"`
	MinLength             *int                 `json:"minLength"`
	MaxLength             *int                 `json:"maxLength"`
	MinItems              *int                 `json:"minItems"`
	MaxItems              *int                 `json:"maxItems"`
	MinProperties         *int                 `json:"minProperties"`
	Examples              []json.RawMessage    `json:"examples"`
}

// What the template renders.

type refView struct {
	Title, Version, Summary string
	Description             []paragraph
	Sections                []sectionView
	Security                []securityView
	Schemas                 []namedSchema
	Pages, Proxy            noteView
}

type sectionView struct {
	Tag         string
	Description string
	Ops         []opView
}

type opView struct {
	ID, Method, Path, Summary string
	AnyMethod                 bool
	Description               []paragraph
	Auth                      []string // scheme names, any one of which will do
	AuthOptional              bool
	Params                    []paramView
	Body                      *bodyView
	Responses                 []responseView
}

type paramView struct {
	Name, In    string
	Required    bool
	Description []paragraph
	Schema      *schemaView
}

type bodyView struct {
	Required bool
	Content  []contentView
}

type contentView struct {
	Type   string
	Schema *schemaView
}

type responseView struct {
	Code        string
	Description []paragraph
	Headers     []paramView
	Content     []contentView
}

type securityView struct {
	Name, What  string
	Description []paragraph
}

type namedSchema struct {
	Name   string
	Schema *schemaView
}

type noteView struct {
	Description []paragraph
	Routes      []noteRoute
}

type noteRoute struct {
	Methods, Path, Summary string
}

// schemaView is a schema as the page shows it: a line of type and
// constraints, the description, then the fields, the items or the
// variants. A reference is a link to the schema's own entry.
type schemaView struct {
	Ref         string
	Type        string
	Notes       []string
	Description []paragraph
	Closed      bool // no other fields
	Props       []propView
	Items       *schemaView
	Values      *schemaView // an object's values, for maps
	Variants    []*schemaView
}

type propView struct {
	Name     string
	Required bool
	Schema   *schemaView
}

// paragraph is text with `code` spans, which the template sets apart.
type paragraph []textPart

type textPart struct {
	Code bool
	Text string
}

// paragraphs splits text at blank lines, and each paragraph at backticks.
func paragraphs(text string) []paragraph {
	var out []paragraph
	for p := range strings.SplitSeq(strings.TrimSpace(text), "\n\n") {
		p = strings.Join(strings.Fields(p), " ")
		if p == "" {
			continue
		}
		var para paragraph
		for i, t := range strings.Split(p, "`") {
			if t != "" {
				para = append(para, textPart{Code: i%2 == 1, Text: t})
			}
		}
		out = append(out, para)
	}
	return out
}

var methodOrder = []string{"get", "head", "post", "put", "patch", "delete", "options", "trace"}

func (d *oaDoc) view() refView {
	v := refView{
		Title: d.Info.Title, Version: d.Info.Version, Summary: d.Info.Summary,
		Description: paragraphs(d.Info.Description),
	}
	byTag := map[string][]opView{}
	for _, path := range slices.Sorted(maps.Keys(d.Paths)) {
		item := d.Paths[path]
		var shared []*oaParameter
		if raw, ok := item["parameters"]; ok {
			_ = json.Unmarshal(raw, &shared) // checked by the whole document's decoding
		}
		anyMethod := string(item["x-crowdgate-any-method"]) == "true"
		for _, m := range methodOrder {
			raw, ok := item[m]
			if !ok {
				continue
			}
			var op oaOperation
			if err := json.Unmarshal(raw, &op); err != nil {
				panic(fmt.Sprintf("gateway: openapi.yaml: %s %s: %v", m, path, err))
			}
			tag := ""
			if len(op.Tags) > 0 {
				tag = op.Tags[0]
			}
			byTag[tag] = append(byTag[tag], d.opView(strings.ToUpper(m), path, anyMethod, shared, op))
		}
	}
	for _, t := range d.Tags {
		v.Sections = append(v.Sections, sectionView{Tag: t.Name, Description: t.Description, Ops: byTag[t.Name]})
		delete(byTag, t.Name)
	}
	for _, t := range slices.Sorted(maps.Keys(byTag)) {
		v.Sections = append(v.Sections, sectionView{Tag: cmp.Or(t, "Other"), Ops: byTag[t]})
	}
	for _, name := range slices.Sorted(maps.Keys(d.Components.SecuritySchemes)) {
		s := d.Components.SecuritySchemes[name]
		what := s.Type
		switch {
		case s.Type == "http" && s.Scheme == "bearer":
			what = "Authorization: Bearer"
			if s.BearerFormat != "" {
				what += " (" + s.BearerFormat + ")"
			}
		case s.Type == "apiKey":
			what = s.In + " " + s.Name
		}
		v.Security = append(v.Security, securityView{Name: name, What: what, Description: paragraphs(s.Description)})
	}
	for _, name := range slices.Sorted(maps.Keys(d.Components.Schemas)) {
		v.Schemas = append(v.Schemas, namedSchema{Name: name, Schema: d.schemaView(d.Components.Schemas[name], false)})
	}
	for _, n := range []struct {
		note *oaRouteNote
		view *noteView
	}{{&d.Pages, &v.Pages}, {&d.Proxy, &v.Proxy}} {
		n.view.Description = paragraphs(n.note.Description)
		for _, r := range n.note.Routes {
			n.view.Routes = append(n.view.Routes, noteRoute{Methods: strings.Join(r.Methods, ", "), Path: r.Path, Summary: r.Summary})
		}
	}
	return v
}

func (d *oaDoc) opView(method, path string, anyMethod bool, shared []*oaParameter, op oaOperation) opView {
	v := opView{
		ID: op.OperationID, Method: method, Path: path, AnyMethod: anyMethod,
		Summary: op.Summary, Description: paragraphs(op.Description),
	}
	for _, req := range op.Security {
		if len(req) == 0 {
			v.AuthOptional = true
		}
		v.Auth = append(v.Auth, slices.Sorted(maps.Keys(req))...)
	}
	for _, p := range append(slices.Clone(shared), op.Parameters...) {
		v.Params = append(v.Params, d.paramView(d.param(p)))
	}
	if b := op.RequestBody; b != nil {
		v.Body = &bodyView{Required: b.Required, Content: d.contentViews(b.Content)}
	}
	codes := slices.SortedFunc(maps.Keys(op.Responses), func(a, b string) int {
		return cmp.Compare(strings.ReplaceAll(a, "X", "9"), strings.ReplaceAll(b, "X", "9"))
	})
	for _, code := range codes {
		r := op.Responses[code]
		if r.Ref != "" {
			r = d.Components.Responses[refName(r.Ref)]
		}
		rv := responseView{Code: code, Description: paragraphs(r.Description), Content: d.contentViews(r.Content)}
		for _, name := range slices.Sorted(maps.Keys(r.Headers)) {
			h := d.param(r.Headers[name])
			rv.Headers = append(rv.Headers, d.paramView(&oaParameter{Name: name, In: "header", Required: h.Required, Description: h.Description, Schema: h.Schema}))
		}
		v.Responses = append(v.Responses, rv)
	}
	return v
}

// param resolves a parameter's (or header's) reference.
func (d *oaDoc) param(p *oaParameter) *oaParameter {
	if p.Ref == "" {
		return p
	}
	name := refName(p.Ref)
	if strings.HasPrefix(p.Ref, "#/components/headers/") {
		return d.Components.Headers[name]
	}
	return d.Components.Parameters[name]
}

func (d *oaDoc) paramView(p *oaParameter) paramView {
	return paramView{Name: p.Name, In: p.In, Required: p.Required, Description: paragraphs(p.Description), Schema: d.schemaView(p.Schema, true)}
}

func (d *oaDoc) contentViews(content map[string]oaMediaType) []contentView {
	var out []contentView
	for _, t := range slices.Sorted(maps.Keys(content)) {
		out = append(out, contentView{Type: t, Schema: d.schemaView(content[t].Schema, true)})
	}
	return out
}

// refName is the last segment of a local reference.
func refName(ref string) string { return ref[strings.LastIndexByte(ref, '/')+1:] }

// schemaView renders s. A reference stays a link when link is true, so
// each component is spelled out once, in its own entry; allOf is merged
// into one list of fields, which is what a reader wants to see.
func (d *oaDoc) schemaView(s *oaSchema, link bool) *schemaView {
	if s == nil {
		return nil
	}
	if s.Ref != "" && link && len(s.AllOf) == 0 {
		return &schemaView{Ref: refName(s.Ref)}
	}
	if base, overlay, ok := refined(s); ok && link {
		// A component narrowed (an error with its code): the link, and
		// what the narrowing says.
		return &schemaView{Ref: refName(base), Notes: constraints(overlay, ""), Description: paragraphs(s.Description)}
	}
	s = d.flatten(s)
	v := &schemaView{Description: paragraphs(s.Description)}
	if s.Title != "" {
		v.Type = s.Title + ": "
	}
	v.Type += typeName(s)
	v.Notes = notes(s)
	v.Closed = string(s.AdditionalProperties) == "false" || string(s.UnevaluatedProperties) == "false"
	for _, name := range slices.Sorted(maps.Keys(s.Properties)) {
		v.Props = append(v.Props, propView{Name: name, Required: slices.Contains(s.Required, name), Schema: d.schemaView(s.Properties[name], true)})
	}
	v.Items = d.schemaView(s.Items, true)
	if len(s.AdditionalProperties) > 0 && s.AdditionalProperties[0] == '{' {
		var values oaSchema
		if json.Unmarshal(s.AdditionalProperties, &values) == nil {
			v.Values = d.schemaView(&values, true)
		}
	}
	for _, o := range s.OneOf {
		v.Variants = append(v.Variants, d.schemaView(o, true))
	}
	return v
}

// refined reports whether s is a component narrowed by inline schemas
// (allOf: a reference, then the constraints added to it), and returns both.
func refined(s *oaSchema) (base string, overlay *oaSchema, ok bool) {
	if len(s.AllOf) == 0 || s.AllOf[0].Ref == "" || len(s.Properties) > 0 {
		return "", nil, false
	}
	overlay = &oaSchema{}
	for _, part := range s.AllOf[1:] {
		if part.Ref != "" {
			return "", nil, false
		}
		overlay = merge(overlay, part)
	}
	return s.AllOf[0].Ref, overlay, true
}

// constraints says in words what a narrowing schema adds, field by field:
// "error.code = \"unauthorized\"".
func constraints(s *oaSchema, prefix string) []string {
	var out []string
	if len(s.Const) > 0 || len(s.Enum) > 0 {
		out = append(out, strings.TrimSuffix(prefix, ".")+" "+typeName(s))
	}
	for _, r := range s.Required {
		out = append(out, prefix+r+" always present")
	}
	for _, name := range slices.Sorted(maps.Keys(s.Properties)) {
		out = append(out, constraints(s.Properties[name], prefix+name+".")...)
	}
	return out
}

// flatten returns s with its reference resolved and its allOf merged in.
func (d *oaDoc) flatten(s *oaSchema) *oaSchema {
	for depth := 0; s.Ref != "" && depth < 8; depth++ {
		next := d.Components.Schemas[refName(s.Ref)]
		if next == nil {
			break
		}
		s = next
	}
	if len(s.AllOf) == 0 {
		return s
	}
	out := &oaSchema{}
	for _, part := range s.AllOf {
		out = merge(out, d.flatten(part))
	}
	own := *s
	own.AllOf = nil
	return merge(out, &own)
}

// merge lays b over a: b's fields win, properties merge by name (and the
// same property's schemas merge too), required lists add up.
func merge(a, b *oaSchema) *oaSchema {
	out := *a
	if b.Ref != "" && len(b.Properties) == 0 {
		out.Ref = b.Ref
	}
	out.Title = cmp.Or(b.Title, a.Title)
	out.Description = cmp.Or(b.Description, a.Description)
	if len(b.Type) > 0 {
		out.Type = b.Type
	}
	if len(b.Properties) > 0 {
		out.Properties = maps.Clone(a.Properties)
		if out.Properties == nil {
			out.Properties = map[string]*oaSchema{}
		}
		for name, p := range b.Properties {
			if old := out.Properties[name]; old != nil && old.Ref == "" {
				out.Properties[name] = merge(old, p)
			} else {
				out.Properties[name] = p
			}
		}
	}
	out.Required = append(slices.Clone(a.Required), b.Required...)
	for _, f := range []struct{ dst, src *json.RawMessage }{
		{&out.AdditionalProperties, &b.AdditionalProperties}, {&out.UnevaluatedProperties, &b.UnevaluatedProperties}, {&out.Const, &b.Const},
	} {
		if len(*f.src) > 0 {
			*f.dst = *f.src
		}
	}
	if len(b.Enum) > 0 {
		out.Enum = b.Enum
	}
	out.Items = cmp.Or(b.Items, a.Items)
	out.PropertyNames = cmp.Or(b.PropertyNames, a.PropertyNames)
	out.OneOf = append(slices.Clone(a.OneOf), b.OneOf...)
	out.Format, out.Pattern = cmp.Or(b.Format, a.Format), cmp.Or(b.Pattern, a.Pattern)
	out.Minimum, out.Maximum = cmp.Or(b.Minimum, a.Minimum), cmp.Or(b.Maximum, a.Maximum)
	out.MinLength, out.MaxLength = cmp.Or(b.MinLength, a.MinLength), cmp.Or(b.MaxLength, a.MaxLength)
	out.MinItems, out.MaxItems = cmp.Or(b.MinItems, a.MinItems), cmp.Or(b.MaxItems, a.MaxItems)
	out.MinProperties = cmp.Or(b.MinProperties, a.MinProperties)
	out.Examples = append(slices.Clone(a.Examples), b.Examples...)
	return &out
}

// typeName says what a value is: its type (or types), a constant, or one
// of a list of values.
func typeName(s *oaSchema) string {
	switch {
	case len(s.Const) > 0:
		return "= " + string(s.Const)
	case len(s.Enum) > 0:
		vals := make([]string, len(s.Enum))
		for i, e := range s.Enum {
			vals[i] = string(e)
		}
		return "one of " + strings.Join(vals, ", ")
	case len(s.OneOf) > 0:
		return "one of"
	}
	var types []string
	if json.Unmarshal(s.Type, &types) != nil {
		var one string
		if json.Unmarshal(s.Type, &one) == nil && one != "" {
			types = []string{one}
		}
	}
	if len(types) == 0 {
		if len(s.Properties) > 0 {
			return "object"
		}
		return "any"
	}
	if slices.Contains(types, "array") && s.Items != nil {
		return "array of"
	}
	return strings.Join(types, " or ")
}

// notes are the constraints of a schema, in words.
func notes(s *oaSchema) []string {
	var out []string
	if s.Format != "" {
		out = append(out, s.Format)
	}
	if s.Pattern != "" {
		out = append(out, "matches "+s.Pattern)
	}
	num := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
	switch {
	case s.Minimum != nil && s.Maximum != nil:
		out = append(out, num(*s.Minimum)+" to "+num(*s.Maximum))
	case s.Minimum != nil:
		out = append(out, "≥ "+num(*s.Minimum))
	case s.Maximum != nil:
		out = append(out, "≤ "+num(*s.Maximum))
	}
	for _, l := range []struct {
		what     string
		min, max *int
	}{{"characters", s.MinLength, s.MaxLength}, {"items", s.MinItems, s.MaxItems}, {"fields", s.MinProperties, nil}} {
		switch {
		case l.min != nil && l.max != nil:
			out = append(out, fmt.Sprintf("%d to %d %s", *l.min, *l.max, l.what))
		case l.min != nil && *l.min == 1 && l.what != "fields":
			out = append(out, "not empty")
		case l.min != nil:
			out = append(out, fmt.Sprintf("at least %d %s", *l.min, l.what))
		case l.max != nil:
			out = append(out, fmt.Sprintf("at most %d %s", *l.max, l.what))
		}
	}
	if s.PropertyNames != nil && len(s.PropertyNames.Enum) > 0 {
		keys := make([]string, len(s.PropertyNames.Enum))
		for i, e := range s.PropertyNames.Enum {
			keys[i] = string(e)
		}
		out = append(out, "keys: "+strings.Join(keys, ", "))
	}
	for _, e := range s.Examples {
		out = append(out, "e.g. "+string(e))
	}
	return out
}

// referenceCSS is the page's one stylesheet, allowed by its hash.
const referenceCSS = `
body{font:15px/1.5 system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem 1.5rem 4rem;color:#1b1f24;background:#fff}
h1{margin-bottom:0}h2{margin-top:3rem;border-bottom:2px solid #d0d7de}h3{margin:0;font-size:1rem}
a{color:#0550ae}code{font:13px/1.4 ui-monospace,monospace;background:#f3f4f6;padding:0 .2em;border-radius:3px}
nav ul{columns:2;padding-left:1.2rem}
.op{border:1px solid #d0d7de;border-radius:6px;margin:1.2rem 0;padding:.8rem 1rem}
.m{display:inline-block;min-width:4.2rem;font:700 12px/1.8 ui-monospace,monospace;text-align:center;border-radius:4px;color:#fff;background:#57606a;margin-right:.4rem}
.GET{background:#1a7f37}.POST{background:#0969da}.PUT,.PATCH{background:#9a6700}.DELETE{background:#cf222e}
.path{font-size:14px;background:none}
table{border-collapse:collapse;width:100%;margin:.4rem 0}td,th{border-top:1px solid #eaeef2;padding:.25rem .4rem;text-align:left;vertical-align:top}
th{font-weight:600;width:11rem}.req{color:#cf222e;font-size:12px}.note{color:#57606a;font-size:13px}
ul.fields{list-style:none;padding-left:1rem;margin:.2rem 0;border-left:2px solid #eaeef2}
.code{font-weight:700}p{margin:.3rem 0}
`

var referenceTemplate = template.Must(template.New("ref").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{{.Title}} API {{.Version}}</title><style>` + referenceCSS + `</style></head>
<body>
<h1>{{.Title}} API {{.Version}}</h1>
<p>{{.Summary}} OpenAPI 3.1: <a href="/api/v1/openapi.yaml">openapi.yaml</a>, <a href="/api/v1/openapi.json">openapi.json</a>.</p>
{{range .Description}}<p>{{template "text" .}}</p>{{end}}
<nav><h2>Contents</h2>
{{range .Sections}}<h3>{{.Tag}}</h3><ul>{{range .Ops}}<li><a href="#op-{{.ID}}">{{.Method}} {{.Path}}</a></li>{{end}}</ul>{{end}}
<p><a href="#security">Security schemes</a> · <a href="#schemas">Schemas</a> · <a href="#pages">Pages</a> · <a href="#proxy">Reverse proxy</a></p>
</nav>
{{range .Sections}}<section><h2>{{.Tag}}</h2><p>{{.Description}}</p>
{{range .Ops}}<div class="op" id="op-{{.ID}}">
<h3><span class="m {{.Method}}">{{.Method}}</span><code class="path">{{.Path}}</code></h3>
<p>{{.Summary}}{{if .AnyMethod}} <span class="note">(every method is answered alike)</span>{{end}}</p>
{{range .Description}}<p>{{template "text" .}}</p>{{end}}
<p class="note">Auth: {{if not .Auth}}none{{else}}{{if .AuthOptional}}optional; {{end}}{{range $i, $a := .Auth}}{{if $i}} or {{end}}<a href="#security-{{$a}}">{{$a}}</a>{{end}}{{end}}</p>
{{if .Params}}<table><caption class="note">Parameters</caption>{{range .Params}}<tr><th><code>{{.Name}}</code> <span class="note">{{.In}}</span>{{if .Required}} <span class="req">required</span>{{end}}</th><td>{{template "schema" .Schema}}{{range .Description}}<p>{{template "text" .}}</p>{{end}}</td></tr>{{end}}</table>{{end}}
{{with .Body}}<table><caption class="note">Request body{{if .Required}} (required){{else}} (optional){{end}}</caption>{{range .Content}}<tr><th><code>{{.Type}}</code></th><td>{{template "schema" .Schema}}</td></tr>{{end}}</table>{{end}}
<table><caption class="note">Responses</caption>{{range .Responses}}<tr><th><span class="code">{{.Code}}</span></th><td>{{range .Description}}<p>{{template "text" .}}</p>{{end}}
{{range .Headers}}<p>Header <code>{{.Name}}</code>{{if .Required}} <span class="req">always</span>{{end}}: {{template "schema" .Schema}}</p>{{end}}
{{range .Content}}<p><code>{{.Type}}</code>:</p>{{template "schema" .Schema}}{{end}}</td></tr>{{end}}</table>
</div>{{end}}</section>{{end}}
<section id="security"><h2>Security schemes</h2>{{range .Security}}<div class="op" id="security-{{.Name}}"><h3>{{.Name}}</h3><p><code>{{.What}}</code></p>{{range .Description}}<p>{{template "text" .}}</p>{{end}}</div>{{end}}</section>
<section id="schemas"><h2>Schemas</h2>{{range .Schemas}}<div class="op" id="schema-{{.Name}}"><h3>{{.Name}}</h3>{{template "schema" .Schema}}</div>{{end}}</section>
<section id="pages"><h2>Pages</h2>{{template "note" .Pages}}</section>
<section id="proxy"><h2>Reverse proxy</h2>{{template "note" .Proxy}}</section>
</body></html>
{{define "text"}}{{range .}}{{if .Code}}<code>{{.Text}}</code>{{else}}{{.Text}}{{end}}{{end}}{{end}}
{{define "note"}}{{range .Description}}<p>{{template "text" .}}</p>{{end}}<table>{{range .Routes}}<tr><th><code>{{.Methods}}</code></th><td><code class="path">{{.Path}}</code> {{.Summary}}</td></tr>{{end}}</table>{{end}}
{{define "schema" -}}
{{if not . -}}<span class="note">any</span>
{{- else if .Ref -}}<a href="#schema-{{.Ref}}">{{.Ref}}</a>{{range .Notes}} <span class="note">· {{.}}</span>{{end}}
{{- else -}}<span>{{.Type}}</span>{{range .Notes}} <span class="note">· {{.}}</span>{{end}}{{if .Closed}} <span class="note">· no other fields</span>{{end}}
{{- range .Description}}<p class="note">{{template "text" .}}</p>{{end}}
{{- with .Items}} {{template "schema" .}}{{end}}
{{- with .Values}}<p class="note">values:</p> {{template "schema" .}}{{end}}
{{- if .Props}}<ul class="fields">{{range .Props}}<li><code>{{.Name}}</code>{{if .Required}} <span class="req">required</span>{{end}}: {{template "schema" .Schema}}</li>{{end}}</ul>{{end}}
{{- if .Variants}}<ul class="fields">{{range .Variants}}<li>{{template "schema" .}}</li>{{end}}</ul>{{end}}
{{- end}}
{{- end}}
`))
