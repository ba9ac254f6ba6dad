package api

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/smsq/smsq/ledger"
	"github.com/smsq/smsq/tasks"
)

// BatchRequest is POST /v1/messages with several messages.
type BatchRequest struct {
	Messages []tasks.SendRequest `json:"messages"`
}

// ItemResult is one message of a batch answer: its record, or the error
// that kept it from being queued.
type ItemResult struct {
	Index     int            `json:"index"`
	Message   *ledger.Record `json:"message,omitempty"`
	Duplicate bool           `json:"duplicate"`
	Error     string         `json:"error,omitempty"`
}

// BatchResponse answers a batch: 202 when every message was queued (or
// already known), 503 when some could not be (resend the batch: the ids
// make it safe).
type BatchResponse struct {
	Error    string       `json:"error,omitempty"`
	Messages []ItemResult `json:"messages"`
}

// MessageResponse answers GET /v1/messages/{id}.
type MessageResponse struct {
	Message ledger.Record `json:"message"`
}

// IdempotencyHeader names a single message's idempotency key; it is the
// message id, like the body's "id".
const IdempotencyHeader = "Idempotency-Key"

func (s *server) postMessages(w http.ResponseWriter, r *http.Request) {
	data, serr := readJSON(w, r, s.o.MaxBodyBytes)
	if serr != nil {
		serr.write(w)
		return
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		p := jsonProblem(err, "")
		writeError(w, http.StatusBadRequest, "the body must be a JSON object: "+p.Reason, *p)
		return
	}
	if raw, ok := probe["messages"]; ok {
		s.postBatch(w, r, probe, raw)
		return
	}
	var req tasks.SendRequest
	if p := decodeStrict(data, &req, ""); p != nil {
		writeError(w, http.StatusBadRequest, p.Field+": "+p.Reason, *p)
		return
	}
	if key := r.Header.Get(IdempotencyHeader); key != "" {
		if req.ID != "" && req.ID != key {
			writeError(w, http.StatusUnprocessableEntity, "id and the Idempotency-Key header differ",
				FieldReason{Field: "id", Reason: "differs from the " + IdempotencyHeader + " header; give one, or the same value"})
			return
		}
		req.ID = key
	}
	req = s.withKeyCallback(r, req)
	acc, err := s.o.Producer.Send(r.Context(), req)
	if err != nil {
		s.sendError(w, r, err)
		return
	}
	if acc.Duplicate {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeJSON(w, http.StatusAccepted, acc)
}

// withKeyCallback gives a message without a callback URL the one of the
// API key that sent it.
func (s *server) withKeyCallback(r *http.Request, req tasks.SendRequest) tasks.SendRequest {
	if req.CallbackURL == "" {
		req.CallbackURL = keyOf(r.Context()).CallbackURL
	}
	return req
}

// sendError answers a failed Send: 422 for invalid input, else 503.
func (s *server) sendError(w http.ResponseWriter, r *http.Request, err error) {
	var fe *tasks.FieldError
	if errors.As(err, &fe) {
		writeError(w, http.StatusUnprocessableEntity, fe.Error(), FieldReason{Field: fe.Field, Reason: fe.Reason})
		return
	}
	s.o.Log.Error().Err(err).Str("route", "POST /v1/messages").Msg("could not queue a message")
	writeError(w, http.StatusServiceUnavailable, "could not queue the message; nothing is lost by retrying with the same id")
}

func (s *server) postBatch(w http.ResponseWriter, r *http.Request, probe map[string]json.RawMessage, raw json.RawMessage) {
	for k := range probe {
		if k != "messages" {
			writeError(w, http.StatusBadRequest, "a batch body has only \"messages\"", FieldReason{Field: k, Reason: "unknown field"})
			return
		}
	}
	if r.Header.Get(IdempotencyHeader) != "" {
		writeError(w, http.StatusBadRequest, IdempotencyHeader+" applies to a single message; give each message of a batch an \"id\"",
			FieldReason{Field: IdempotencyHeader, Reason: "not allowed with a batch"})
		return
	}
	var items []json.RawMessage
	if p := decodeStrict(raw, &items, "messages."); p != nil || items == nil {
		writeError(w, http.StatusBadRequest, "\"messages\" must be an array of message objects",
			FieldReason{Field: "messages", Reason: "want an array of message objects"})
		return
	}
	switch {
	case len(items) == 0:
		writeError(w, http.StatusUnprocessableEntity, "no messages", FieldReason{Field: "messages", Reason: "give at least one message"})
		return
	case len(items) > s.o.MaxBatch:
		writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("%d messages; at most %d per request", len(items), s.o.MaxBatch),
			FieldReason{Field: "messages", Reason: fmt.Sprintf("at most %d per request", s.o.MaxBatch)})
		return
	}

	// Decode and validate everything first: a batch with a bad message
	// queues nothing, so the caller can fix it and resend the whole batch.
	reqs := make([]tasks.SendRequest, len(items))
	var bad []FieldReason
	for i, it := range items {
		if p := decodeStrict(it, &reqs[i], fmt.Sprintf("messages[%d].", i)); p != nil {
			p.Index = &i
			bad = append(bad, *p)
		}
	}
	if len(bad) > 0 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%d of %d messages are malformed; nothing was queued", len(bad), len(items)), bad...)
		return
	}
	rules := s.o.Producer.Rules()
	seen := map[string]int{}
	for i := range reqs {
		reqs[i] = s.withKeyCallback(r, reqs[i])
		norm, err := rules.Normalize(reqs[i])
		var fe *tasks.FieldError
		switch {
		case errors.As(err, &fe):
			bad = append(bad, FieldReason{Index: &i, Field: fmt.Sprintf("messages[%d].%s", i, fe.Field), Reason: fe.Reason})
			continue
		case err != nil:
			bad = append(bad, FieldReason{Index: &i, Field: fmt.Sprintf("messages[%d]", i), Reason: err.Error()})
			continue
		}
		if norm.ID == "" {
			continue
		}
		if j, dup := seen[norm.ID]; dup {
			bad = append(bad, FieldReason{Index: &i, Field: fmt.Sprintf("messages[%d].id", i), Reason: fmt.Sprintf("same id as messages[%d]", j)})
		}
		seen[norm.ID] = i
	}
	if len(bad) > 0 {
		writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("%d of %d messages are invalid; nothing was queued", len(bad), len(items)), bad...)
		return
	}
	for i := range reqs {
		// Ids up front, so a caller that gets a 503 knows every id to resend.
		if reqs[i].ID == "" {
			reqs[i].ID = tasks.NewID()
		}
	}

	out := make([]ItemResult, len(reqs))
	sem := make(chan struct{}, s.o.BatchConcurrency)
	var wg sync.WaitGroup
	for i := range reqs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i] = ItemResult{Index: i}
			acc, err := s.o.Producer.Send(r.Context(), reqs[i])
			if err != nil {
				out[i].Error = err.Error()
				return
			}
			out[i].Message, out[i].Duplicate = &acc.Message, acc.Duplicate
		}()
	}
	wg.Wait()
	failed, first := 0, ""
	for _, it := range out {
		if it.Error != "" {
			failed++
			first = cmp.Or(first, it.Error)
		}
	}
	if failed > 0 {
		s.o.Log.Error().Str("error", first).Int("failed", failed).Int("messages", len(out)).Msg("could not queue part of a batch")
		for i := range out {
			if out[i].Error != "" {
				out[i].Error = "could not queue; resend with id " + reqs[i].ID
			}
		}
		writeJSON(w, http.StatusServiceUnavailable, BatchResponse{Messages: out,
			Error: fmt.Sprintf("%d of %d messages could not be queued; resend the batch: the ids make it safe", failed, len(out))})
		return
	}
	writeJSON(w, http.StatusAccepted, BatchResponse{Messages: out})
}

func (s *server) getMessage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	rec, err := s.o.Producer.Status(r.Context(), id)
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		writeError(w, http.StatusNotFound, "no message with id "+id)
	case err != nil:
		s.o.Log.Error().Err(err).Str("route", "GET /v1/messages/{id}").Msg("could not read a message")
		writeError(w, http.StatusServiceUnavailable, "could not read the message; try again")
	default:
		writeJSON(w, http.StatusOK, MessageResponse{Message: rec})
	}
}
