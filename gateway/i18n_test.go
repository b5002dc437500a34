package gateway

import (
	"encoding/json"
	"maps"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/crowdgate/crowdgate/queue"
)

// pluralForms are, per shipped language, the CLDR plural categories other
// than "other" that its whole numbers below a million fall in: a key with
// plural forms ("tickets_left.one") needs each of them in that language's
// table ("tickets_left" itself is "other"). A new language states its own
// (CLDR's "Language Plural Rules" chart; golang.org/x/text/feature/plural
// gives the same).
var pluralForms = map[string][]string{
	"ar": {"zero", "one", "two", "few", "many"},
	"bn": {"one"}, "de": {"one"}, "en": {"one"}, "es": {"one"}, "fr": {"one"}, "gu": {"one"},
	"hi": {"one"}, "kn": {"one"}, "ml": {"one"}, "mr": {"one"}, "pt": {"one"}, "ta": {"one"}, "te": {"one"},
}

var placeholder = regexp.MustCompile(`\{\w+\}`)

// placeholders is the sorted set of s's {placeholders}.
func placeholders(s string) []string {
	p := placeholder.FindAllString(s, -1)
	slices.Sort(p)
	return slices.Compact(p)
}

// TestStringTablesComplete keeps every translation whole, so that a string
// added to English (by anyone, for anything) fails here until every
// language has it: each table of the waiting room's and the shop's has
// exactly English's keys, with the same {placeholders}, nothing empty, and
// a key that has plural forms in English has every form its language
// needs, and no other (a form may leave out a placeholder, as "one ticket"
// does its number, but adds none).
func TestStringTablesComplete(t *testing.T) {
	t.Parallel()
	for dir, tables := range map[string]map[string]map[string]string{"pages/i18n": pageStrings, "pages/shop/i18n": shopStrings} {
		en := tables["en"]
		if en == nil {
			t.Fatalf("%s: no English table", dir)
		}
		// The keys with plural forms, by English's: "key.one" makes key one.
		plurals := map[string]bool{}
		for k := range en {
			if base, form, ok := strings.Cut(k, "."); ok {
				if form != "one" || en[base] == "" {
					t.Errorf("%s/en.json: %s: plural forms are key.<CLDR category> beside key, and English's is one", dir, k)
				}
				plurals[base] = true
			}
		}
		for lang, table := range tables {
			forms, ok := pluralForms[lang]
			if !ok {
				t.Errorf("%s/%s.json: a language without plural forms in pluralForms", dir, lang)
			}
			want := map[string]string{} // key: the English it translates
			for k, v := range en {
				if _, form, ok := strings.Cut(k, "."); !ok || form == "" {
					want[k] = v
				}
			}
			for base := range plurals {
				for _, f := range forms {
					want[base+"."+f] = en[base]
				}
			}
			for k, source := range want {
				v, ok := table[k]
				switch {
				case !ok || strings.TrimSpace(v) == "":
					t.Errorf("%s/%s.json: %s is missing", dir, lang, k)
				case strings.Contains(k, "."):
					for _, p := range placeholders(v) {
						if !slices.Contains(placeholders(source), p) {
							t.Errorf("%s/%s.json: %s has %s, which %q lacks", dir, lang, k, p, source)
						}
					}
				case !slices.Equal(placeholders(v), placeholders(source)):
					t.Errorf("%s/%s.json: %s has placeholders %q, English %q", dir, lang, k, placeholders(v), placeholders(source))
				}
			}
			for k := range table {
				if _, ok := want[k]; !ok {
					t.Errorf("%s/%s.json: %s is not a key of the English table (or not a plural form %s needs)", dir, lang, k, lang)
				}
			}
		}
	}
}

// TestLanguagesMatchTables: the languages rooms may name (queue.Languages),
// the waiting room's tables, the shop's, and the API document's enum for a
// room's language are one list.
func TestLanguagesMatchTables(t *testing.T) {
	t.Parallel()
	room, shop := slices.Sorted(maps.Keys(pageStrings)), slices.Sorted(maps.Keys(shopStrings))
	if codes := queue.LanguageCodes(); !slices.Equal(room, codes) || !slices.Equal(shop, codes) {
		t.Errorf("rooms may name %q; the waiting room speaks %q, the shop %q", codes, room, shop)
	}
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties struct {
					Language struct {
						Enum []string `json:"enum"`
					} `json:"language"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	j, err := yaml.YAMLToJSON(openapiYAML)
	if err != nil || json.Unmarshal(j, &doc) != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	enum := doc.Components.Schemas["RoomInput"].Properties.Language.Enum
	if want := append([]string{""}, room...); !slices.Equal(enum, want) {
		t.Errorf("openapi.yaml's RoomInput.language enum is %q, want %q", enum, want)
	}
	for _, l := range room {
		if pageStrings[l]["lang_name"] == "" || (l != "en" && pageStrings[l]["lang_name"] == pageStrings["en"]["lang_name"]) {
			t.Errorf("%s: lang_name must be the language's own name for itself, is %q", l, pageStrings[l]["lang_name"])
		}
	}
	if langDir("ar") != "rtl" || langDir("hi") != "ltr" {
		t.Errorf("dir: ar %s, hi %s", langDir("ar"), langDir("hi"))
	}
}

// TestPickLang: ?lang= first, then the room's language, then the
// browser's best-liked shipped language (its primary subtag, by q), then
// English.
func TestPickLang(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		query, room, accept, want string
	}{
		{"", "", "", "en"},
		{"lang=ta", "", "", "ta"},
		{"lang=ar-EG", "hi", "de", "ar"},
		{"lang=PT-br", "", "", "pt"},
		{"lang=xx", "bn", "", "bn"},
		{"lang=xx", "", "", "en"},
		{"", "mr", "ta-IN,ta;q=0.9", "mr"},
		{"", "", "ta-IN,ta;q=0.9", "ta"},
		{"", "", "ar-EG", "ar"},
		{"", "", "pt-BR", "pt"},
		{"", "", "fr-CA,fr;q=0.9,en;q=0.8", "fr"},
		{"", "", "ja,ml;q=0.5,en;q=0.4", "ml"},
		{"", "", "de;q=0.2,es;q=0.7", "es"},
		{"", "", "zz,gu;q=0,kn", "kn"},
		{"", "", "ja", "en"},
		{"", "xx", "te", "te"},
	} {
		r := httptest.NewRequest("GET", "/rooms/launch?"+c.query, nil)
		if c.accept != "" {
			r.Header.Set("Accept-Language", c.accept)
		}
		if got := pickLang(r, c.room); got != c.want {
			t.Errorf("?%s, room %q, Accept-Language %q: %s, want %s", c.query, c.room, c.accept, got, c.want)
		}
	}
}
