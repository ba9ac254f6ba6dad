package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
)

// isJSON reports whether a Content-Type names JSON.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// readJSON checks that r carries JSON and reads its body, at most limit
// bytes.
func readJSON(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *statusError) {
	if !isJSON(r.Header.Get("Content-Type")) {
		return nil, fail(http.StatusUnsupportedMediaType, "send Content-Type: application/json")
	}
	return readBody(w, r, limit)
}

func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *statusError) {
	if r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, tooLarge(limit)
	case err != nil:
		return nil, fail(http.StatusBadRequest, "reading the body: "+err.Error())
	case len(bytes.TrimSpace(data)) == 0:
		return nil, fail(http.StatusBadRequest, "empty body: send a JSON object")
	}
	return data, nil
}

func tooLarge(limit int64) *statusError {
	return fail(http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", limit))
}

// decodeStrict decodes one JSON value into v, refusing unknown fields and
// trailing data. Field names in errors get prefix (e.g. "messages[3].").
func decodeStrict(data []byte, v any, prefix string) *FieldReason {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonProblem(err, prefix)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &FieldReason{Field: "body", Reason: "unexpected data after the JSON value"}
	}
	return nil
}

// jsonProblem turns a decoding error into a field and a reason a person
// can act on.
func jsonProblem(err error, prefix string) *FieldReason {
	whole := strings.TrimSuffix(prefix, ".")
	if whole == "" {
		whole = "body"
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tpe *time.ParseError
	switch {
	case errors.As(err, &syn):
		return &FieldReason{Field: whole, Reason: fmt.Sprintf("malformed JSON at byte %d: %s", syn.Offset, syn.Error())}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &FieldReason{Field: whole, Reason: "malformed JSON: it ends early"}
	case errors.As(err, &typ):
		if typ.Field == "" {
			return &FieldReason{Field: whole, Reason: "want a JSON " + kind(typ.Type.String()) + ", got " + typ.Value}
		}
		return &FieldReason{Field: prefix + typ.Field, Reason: "want a JSON " + kind(typ.Type.String()) + ", got " + typ.Value}
	case errors.As(err, &tpe):
		return &FieldReason{Field: prefix + "send_at", Reason: "want an RFC 3339 time, e.g. 2026-11-22T18:00:00+01:00"}
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return &FieldReason{Field: prefix + strings.Trim(name, `"`), Reason: "unknown field"}
	}
	return &FieldReason{Field: whole, Reason: err.Error()}
}

// kind names a Go type the way a JSON writer thinks of it.
func kind(goType string) string {
	switch {
	case goType == "string" || strings.HasSuffix(goType, "State") || strings.HasSuffix(goType, "Source"):
		return "string"
	case goType == "bool":
		return "boolean"
	case strings.HasPrefix(goType, "[]"):
		return "array"
	case strings.HasPrefix(goType, "map[") || strings.Contains(goType, "."):
		return "object"
	case strings.HasPrefix(goType, "int") || strings.HasPrefix(goType, "uint") || strings.HasPrefix(goType, "float"):
		return "number"
	}
	return goType
}
