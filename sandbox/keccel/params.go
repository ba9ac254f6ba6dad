package keccel

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// params are a request's fields from its sources, searched in order.
type params []url.Values

// get returns the first non-empty value of any of names, source by source.
func (p params) get(names ...string) string {
	for _, src := range p {
		for _, n := range names {
			if v := strings.TrimSpace(src.Get(n)); v != "" {
				return v
			}
		}
	}
	return ""
}

// maxBody caps what the fake reads of a request body.
const maxBody = 1 << 20

// readParams collects fields from the body (JSON, urlencoded or multipart
// form) and the query. message.asp reads its JSON body first; delivery.asp
// and balance.asp, documented as GETs, read the query first but also take a
// body, since pykeccelsms sends them a JSON body. On failure it returns the
// HTTP code and the description to refuse with.
func readParams(r *http.Request, bodyFirst bool) (params, int, string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, http.StatusBadRequest, "Unreadable request body"
	}
	if len(body) > maxBody {
		return nil, http.StatusRequestEntityTooLarge, "Request body too large"
	}
	query := r.URL.Query()
	if len(bytes.TrimSpace(body)) == 0 {
		return params{query}, 0, ""
	}
	fromBody, code, why := bodyParams(r, body)
	if why != "" {
		return nil, code, why
	}
	if bodyFirst {
		return params{fromBody, query}, 0, ""
	}
	return params{query, fromBody}, 0, ""
}

func bodyParams(r *http.Request, body []byte) (url.Values, int, string) {
	mt, mp, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return nil, http.StatusUnsupportedMediaType, "Unsupported content type"
	}
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		v, ok := jsonParams(body)
		if !ok {
			return nil, http.StatusOK, "Invalid JSON body"
		}
		return v, 0, ""
	case mt == "application/x-www-form-urlencoded":
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, http.StatusOK, "Invalid form body"
		}
		return v, 0, ""
	case mt == "multipart/form-data":
		r.Body = io.NopCloser(bytes.NewReader(body))
		if mp["boundary"] == "" || r.ParseMultipartForm(maxBody) != nil {
			return nil, http.StatusOK, "Invalid form body"
		}
		return url.Values(r.MultipartForm.Value), 0, ""
	}
	return nil, http.StatusUnsupportedMediaType, "Unsupported content type"
}

// jsonParams reads a flat JSON object; strings, numbers and booleans count
// as text (a number "to" is common), nested values as absent.
func jsonParams(body []byte) (url.Values, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return nil, false
	}
	v := url.Values{}
	for k, x := range obj {
		switch t := x.(type) {
		case string:
			v.Set(k, t)
		case json.Number:
			v.Set(k, t.String())
		case bool:
			if t {
				v.Set(k, "true")
			} else {
				v.Set(k, "false")
			}
		}
	}
	return v, true
}
