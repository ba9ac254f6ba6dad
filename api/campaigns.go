package api

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/smsq/smsq/campaign"
	"github.com/smsq/smsq/pacing"
)

// CampaignRequest is POST /v1/campaigns. As JSON it carries the
// recipients in Recipients; as multipart/form-data the part "definition"
// holds this object without recipients and the part "recipients", which
// must come after it, a CSV file (header row, a phone column, one column
// per template field).
type CampaignRequest struct {
	campaign.Definition
	// PhoneColumn names the phone column. Default: phone, to or number.
	PhoneColumn string `json:"phone_column,omitempty"`
	// Strict refuses the whole campaign when any row is bad.
	Strict bool `json:"strict,omitempty"`
	// Recipients are rows: the phone column plus the template's fields,
	// e.g. {"phone": "+243812345678", "name": "Ana"}.
	Recipients []map[string]string `json:"recipients,omitempty"`
}

// CampaignResponse answers the campaign routes.
type CampaignResponse struct {
	Campaign *campaign.Campaign `json:"campaign"`
	Outlook  *campaign.Outlook  `json:"outlook,omitempty"`
	// Report says what the import did with each row (create only).
	Report *campaign.Report `json:"report,omitempty"`
}

// CampaignError is an error answer of POST /v1/campaigns; Report is set
// when the recipients were read.
type CampaignError struct {
	ErrorBody
	Report *campaign.Report `json:"report,omitempty"`
}

// campaignsOff answers 501 when the server has no campaign store (or no
// way to keep keys apart in it).
func (s *server) campaignsOff(w http.ResponseWriter) bool {
	if s.o.Campaigns == nil || s.o.CampaignOwners == nil {
		writeError(w, http.StatusNotImplemented, "campaigns are not available on this server")
		return true
	}
	return false
}

func campaignNotFound(w http.ResponseWriter, id string) {
	writeError(w, http.StatusNotFound, "no campaign with id "+id)
}

// mayUse reports whether the request's key may see campaign id; when it
// may not (or the owner cannot be read) it has answered.
func (s *server) mayUse(w http.ResponseWriter, r *http.Request, id string) bool {
	k := keyOf(r.Context())
	if k.Admin {
		return true
	}
	owner, err := s.o.CampaignOwners.Owner(r.Context(), id)
	switch {
	case err != nil:
		s.o.Log.Error().Err(err).Msg("could not read a campaign's owner")
		writeError(w, http.StatusServiceUnavailable, "could not reach the campaign store; try again")
		return false
	case !k.sees(owner):
		// As if it did not exist: ids are not to be probed.
		campaignNotFound(w, id)
		return false
	}
	return true
}

func (s *server) postCampaign(w http.ResponseWriter, r *http.Request) {
	if s.campaignsOff(w) {
		return
	}
	var (
		req        CampaignRequest
		recipients io.Reader
		serr       *statusError
	)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case isJSON(r.Header.Get("Content-Type")):
		req, recipients, serr = s.jsonCampaign(w, r)
	case mt == "multipart/form-data":
		req, recipients, serr = s.multipartCampaign(w, r)
	default:
		serr = fail(http.StatusUnsupportedMediaType, "send Content-Type: application/json, or multipart/form-data with a definition and a recipients CSV")
	}
	if serr != nil {
		serr.write(w)
		return
	}
	d := req.Definition
	if d.Pacing.TimeZone == "" {
		d.Pacing.TimeZone = "UTC"
	}
	if d.Pacing.StartDate == "" {
		// Now, in the campaign's zone (as enqueue campaign create does).
		loc, err := time.LoadLocation(d.Pacing.TimeZone)
		if err != nil || d.Pacing.TimeZone == "Local" {
			writeError(w, http.StatusUnprocessableEntity, "unknown time zone "+d.Pacing.TimeZone,
				FieldReason{Field: "pacing.time_zone", Reason: "want an IANA zone name, e.g. Europe/Madrid"})
			return
		}
		d.Pacing.StartDate = s.o.Now().In(loc).Format("2006-01-02 15:04")
	}
	o := campaign.CreateOptions{Providers: s.o.Producer.Rules().Providers}
	if s.o.CampaignOptions != nil {
		o = s.o.CampaignOptions(strings.ToLower(strings.TrimSpace(d.Provider)))
	}
	o.PhoneColumn, o.Strict = req.PhoneColumn, req.Strict
	// The owner is recorded first, so that no campaign made here is ever
	// without one; a create that fails lets the id go again.
	if d.ID == "" {
		d.ID = campaign.NewID(s.o.Now())
	}
	k := keyOf(r.Context())
	claimed, err := s.o.CampaignOwners.Claim(r.Context(), d.ID, k.Name)
	if err != nil {
		s.o.Log.Error().Err(err).Msg("could not record a campaign's owner")
		writeError(w, http.StatusServiceUnavailable, "could not create the campaign; try again")
		return
	}
	if !claimed {
		owner, err := s.o.CampaignOwners.Owner(r.Context(), d.ID)
		if err != nil {
			s.o.Log.Error().Err(err).Msg("could not read a campaign's owner")
			writeError(w, http.StatusServiceUnavailable, "could not create the campaign; try again")
			return
		}
		if owner != k.Name {
			writeError(w, http.StatusConflict, "campaign id "+d.ID+" is taken; choose another id",
				FieldReason{Field: "id", Reason: "taken; choose another id"})
			return
		}
	}
	rep, err := s.o.Campaigns.Create(r.Context(), d, recipients, o)
	if err != nil {
		if claimed {
			// Also when it exists: then it was made without this key (the
			// CLI) and stays with no owner.
			if rerr := s.o.CampaignOwners.Release(context.WithoutCancel(r.Context()), d.ID, k.Name); rerr != nil {
				s.o.Log.Error().Err(rerr).Str("campaign_id", d.ID).Msg("could not release a campaign id after a failed create")
			}
		}
		s.campaignCreateError(w, rep, err)
		return
	}
	c, err := s.o.Campaigns.Get(r.Context(), rep.ID)
	if err != nil {
		s.o.Log.Error().Err(err).Str("campaign_id", rep.ID).Msg("campaign created but not readable")
		writeError(w, http.StatusServiceUnavailable, "campaign "+rep.ID+" was created but could not be read back; GET it")
		return
	}
	w.Header().Set("Location", "/v1/campaigns/"+rep.ID)
	writeJSON(w, http.StatusCreated, CampaignResponse{Campaign: c, Report: &rep})
}

func (s *server) jsonCampaign(w http.ResponseWriter, r *http.Request) (CampaignRequest, io.Reader, *statusError) {
	var req CampaignRequest
	data, serr := readBody(w, r, s.o.MaxCampaignBytes)
	if serr != nil {
		return req, nil, serr
	}
	if p := decodeStrict(data, &req, ""); p != nil {
		return req, nil, fail(http.StatusBadRequest, p.Field+": "+p.Reason, *p)
	}
	if len(req.Recipients) == 0 {
		return req, nil, fail(http.StatusUnprocessableEntity, "no recipients",
			FieldReason{Field: "recipients", Reason: "give at least one recipient, e.g. {\"phone\": \"+243812345678\"}"})
	}
	return req, recipientsCSV(req), nil
}

// recipientsCSV writes JSON recipients as the CSV the importer reads:
// the phone column first, the other keys after it in name order.
func recipientsCSV(req CampaignRequest) io.Reader {
	phone := strings.ToLower(strings.TrimSpace(req.PhoneColumn))
	if phone == "" {
		phone = "phone"
	}
	cols := map[string]bool{}
	for _, row := range req.Recipients {
		for k := range row {
			if strings.ToLower(strings.TrimSpace(k)) != phone {
				cols[k] = true
			}
		}
	}
	others := make([]string, 0, len(cols))
	for k := range cols {
		others = append(others, k)
	}
	slices.Sort(others)
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	_ = cw.Write(append([]string{phone}, others...))
	line := make([]string, 1+len(others))
	for _, row := range req.Recipients {
		line[0] = ""
		for k, v := range row {
			if strings.ToLower(strings.TrimSpace(k)) == phone {
				line[0] = v
			}
		}
		for i, k := range others {
			line[1+i] = row[k]
		}
		_ = cw.Write(line)
	}
	cw.Flush()
	return &buf
}

func (s *server) multipartCampaign(w http.ResponseWriter, r *http.Request) (CampaignRequest, io.Reader, *statusError) {
	var req CampaignRequest
	if r.ContentLength > s.o.MaxCampaignBytes {
		return req, nil, tooLarge(s.o.MaxCampaignBytes)
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.o.MaxCampaignBytes)
	mr, err := r.MultipartReader()
	if err != nil {
		return req, nil, fail(http.StatusBadRequest, "multipart body: "+err.Error())
	}
	part, err := mr.NextPart()
	if err != nil || part.FormName() != "definition" {
		return req, nil, fail(http.StatusBadRequest, "the first part must be \"definition\": the campaign as JSON",
			FieldReason{Field: "definition", Reason: "required, before the recipients"})
	}
	data, err := io.ReadAll(io.LimitReader(part, s.o.MaxBodyBytes+1))
	if err != nil {
		return req, nil, bodyReadError(err)
	}
	if int64(len(data)) > s.o.MaxBodyBytes {
		return req, nil, tooLarge(s.o.MaxBodyBytes)
	}
	if p := decodeStrict(data, &req, "definition."); p != nil {
		return req, nil, fail(http.StatusBadRequest, p.Field+": "+p.Reason, *p)
	}
	if len(req.Recipients) > 0 {
		return req, nil, fail(http.StatusBadRequest, "give the recipients as the CSV part only",
			FieldReason{Field: "definition.recipients", Reason: "not allowed with a recipients CSV part"})
	}
	part, err = mr.NextPart()
	if err != nil || part.FormName() != "recipients" {
		return req, nil, fail(http.StatusBadRequest, "the second part must be \"recipients\": the CSV file",
			FieldReason{Field: "recipients", Reason: "required, after the definition"})
	}
	return req, part, nil
}

func bodyReadError(err error) *statusError {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge(mbe.Limit)
	}
	return fail(http.StatusBadRequest, "reading the body: "+err.Error())
}

func (s *server) campaignCreateError(w http.ResponseWriter, rep campaign.Report, err error) {
	body := CampaignError{}
	if rep.Rows > 0 || rep.ID != "" {
		body.Report = &rep
	}
	var (
		cfe *campaign.FieldError
		pfe *pacing.FieldError
		mbe *http.MaxBytesError
	)
	code := http.StatusUnprocessableEntity
	switch {
	case errors.As(err, &mbe):
		code, body.Error = http.StatusRequestEntityTooLarge, tooLarge(mbe.Limit).msg
	case errors.As(err, &cfe):
		body.Error, body.Fields = cfe.Error(), []FieldReason{{Field: cfe.Field, Reason: cfe.Reason}}
	case errors.As(err, &pfe):
		body.Error, body.Fields = pfe.Error(), []FieldReason{{Field: "pacing." + pfe.Field, Reason: pfe.Reason}}
	case errors.Is(err, campaign.ErrExists):
		code, body.Error = http.StatusConflict, err.Error()
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.Canceled):
		code, body.Error = http.StatusBadRequest, "the recipients could not be read to the end: "+err.Error()
	default:
		s.o.Log.Error().Err(err).Msg("could not create a campaign")
		code, body.Error = http.StatusServiceUnavailable, "could not create the campaign; try again"
	}
	writeJSON(w, code, body)
}

func (s *server) getCampaign(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if s.campaignsOff(w) || !s.mayUse(w, r, id) {
		return
	}
	c, err := s.o.Campaigns.Get(r.Context(), id)
	if err != nil {
		s.campaignError(w, id, err)
		return
	}
	o, err := c.Outlook(s.o.Now())
	if err != nil {
		// A stored campaign always has a valid pacing; answer without the
		// outlook rather than fail the read.
		writeJSON(w, http.StatusOK, CampaignResponse{Campaign: c})
		return
	}
	writeJSON(w, http.StatusOK, CampaignResponse{Campaign: c, Outlook: &o})
}

func (s *server) campaignAction(w http.ResponseWriter, r *http.Request) {
	if s.campaignsOff(w) {
		return
	}
	ops := map[string]func(context.Context, string) (*campaign.Campaign, error){
		"pause": s.o.Campaigns.Pause, "resume": s.o.Campaigns.Resume, "cancel": s.o.Campaigns.Cancel,
	}
	op, ok := ops[r.PathValue("action")]
	if !ok {
		writeError(w, http.StatusNotFound, "no such campaign action: use pause, resume or cancel")
		return
	}
	id := r.PathValue("id")
	if !s.mayUse(w, r, id) {
		return
	}
	c, err := op(r.Context(), id)
	if err != nil {
		s.campaignError(w, id, err)
		return
	}
	writeJSON(w, http.StatusOK, CampaignResponse{Campaign: c})
}

func (s *server) campaignError(w http.ResponseWriter, id string, err error) {
	switch {
	case errors.Is(err, campaign.ErrNotFound):
		campaignNotFound(w, id)
	case errors.Is(err, campaign.ErrState):
		writeError(w, http.StatusConflict, err.Error())
	default:
		s.o.Log.Error().Err(err).Msg("campaign request failed")
		writeError(w, http.StatusServiceUnavailable, "could not reach the campaign store; try again")
	}
}
