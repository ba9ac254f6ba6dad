package api

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
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
// make it safe), 409 when an id was taken by a message that is not the
// key's while the batch was queued (the others were queued).
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
	req = s.withKey(r, req)
	acc, err := s.o.Producer.Send(r.Context(), req)
	if err != nil {
		s.sendError(w, r, err)
		return
	}
	if !keyOf(r.Context()).sees(acc.Message.Producer) {
		// Someone else's message: say the id is taken, show nothing of it.
		writeError(w, http.StatusConflict, idTaken(acc.Message.ID), FieldReason{Field: "id", Reason: idTakenReason})
		return
	}
	if acc.Duplicate {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeJSON(w, http.StatusAccepted, acc)
}

// withKey makes the API key that sends a message its producer, and gives
// it the key's callback URL when it names none.
func (s *server) withKey(r *http.Request, req tasks.SendRequest) tasks.SendRequest {
	k := keyOf(r.Context())
	if req.CallbackURL == "" {
		req.CallbackURL = k.CallbackURL
	}
	req.Producer = k.Name
	return req
}

// idTakenReason answers a message id that belongs to a message the key
// may not see. It is the same whoever holds the id.
const idTakenReason = "already taken by a message that is not yours; choose another id"

func idTaken(id string) string { return "message id " + strconv.Quote(id) + " is " + idTakenReason }

// takenIDs finds the messages of a batch whose given id belongs to a
// message the key may not see: they are refused before anything is queued.
func (s *server) takenIDs(ctx context.Context, k Key, reqs []tasks.SendRequest) ([]FieldReason, error) {
	var (
		mu    sync.Mutex
		taken []FieldReason
		first error
		wg    sync.WaitGroup
		sem   = make(chan struct{}, s.o.BatchConcurrency)
	)
	for i := range reqs {
		if reqs[i].ID == "" {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			rec, err := s.o.Producer.Status(ctx, reqs[i].ID)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, ledger.ErrNotFound):
			case err != nil:
				first = cmp.Or(first, err)
			case !k.sees(rec.Producer):
				taken = append(taken, FieldReason{Index: &i, Field: fmt.Sprintf("messages[%d].id", i), Reason: idTakenReason})
			}
		}()
	}
	wg.Wait()
	slices.SortFunc(taken, func(a, b FieldReason) int { return *a.Index - *b.Index })
	return taken, first
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
		reqs[i] = s.withKey(r, reqs[i])
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
	key := keyOf(r.Context())
	taken, err := s.takenIDs(r.Context(), key, reqs)
	if err != nil {
		s.o.Log.Error().Err(err).Str("route", "POST /v1/messages").Msg("could not check a batch's ids")
		writeError(w, http.StatusServiceUnavailable, "could not check the messages' ids; nothing was queued, try again")
		return
	}
	if len(taken) > 0 {
		writeError(w, http.StatusConflict, fmt.Sprintf("%d of %d messages have an id that is taken; nothing was queued", len(taken), len(items)), taken...)
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
	failed, conflicts, first := 0, 0, ""
	for i, it := range out {
		switch {
		case it.Error != "":
			failed++
			first = cmp.Or(first, it.Error)
			out[i].Error = "could not queue; resend with id " + reqs[i].ID
		case !key.sees(it.Message.Producer):
			// Taken between the check above and now.
			conflicts++
			out[i] = ItemResult{Index: i, Error: idTaken(reqs[i].ID)}
		}
	}
	switch {
	case failed > 0:
		s.o.Log.Error().Str("error", first).Int("failed", failed).Int("messages", len(out)).Msg("could not queue part of a batch")
		writeJSON(w, http.StatusServiceUnavailable, BatchResponse{Messages: out,
			Error: fmt.Sprintf("%d of %d messages could not be queued; resend the batch: the ids make it safe", failed, len(out))})
	case conflicts > 0:
		writeJSON(w, http.StatusConflict, BatchResponse{Messages: out,
			Error: fmt.Sprintf("%d of %d messages have an id that is taken; the others were queued", conflicts, len(out))})
	default:
		writeJSON(w, http.StatusAccepted, BatchResponse{Messages: out})
	}
}

func (s *server) getMessage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	rec, err := s.o.Producer.Status(r.Context(), id)
	if err == nil && !keyOf(r.Context()).sees(rec.Producer) {
		// As if it did not exist: ids are not to be probed.
		err = ledger.ErrNotFound
	}
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
