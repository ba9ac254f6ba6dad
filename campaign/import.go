package campaign

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"

	"github.com/smsq/smsq/sms"
	"github.com/smsq/smsq/suppress"
)

// ImportOptions tune how a recipients CSV is read and checked.
type ImportOptions struct {
	// PhoneColumn names the column holding the numbers. Default "": the
	// first of "phone", "to" and "number" the header has.
	PhoneColumn string `koanf:"phone_column"`
	// DefaultRegion lets numbers be written in national format (ISO 3166
	// code, e.g. "CD"). Default "": numbers must be international.
	DefaultRegion string `koanf:"default_region"`
	// MaxSegments is the most SMS segments a rendered message may take.
	// Default 0: sms.DefaultMaxSegments (10).
	MaxSegments int `koanf:"max_segments"`
	// Strict refuses the whole file when any row is bad. Default false:
	// bad rows are reported and skipped.
	Strict bool `koanf:"strict"`
	// MaxReported caps the bad and duplicate rows listed in the report
	// (all are counted). Default 1000.
	MaxReported int `koanf:"max_reported"`
	// Workers is how many goroutines validate numbers and texts. Default
	// GOMAXPROCS.
	Workers int `koanf:"workers"`
	// Suppress is the opt-out list checked for every number. Nil: none.
	Suppress *suppress.List `koanf:"-"`
}

func (o ImportOptions) withDefaults() ImportOptions {
	if o.MaxSegments <= 0 {
		o.MaxSegments = sms.DefaultMaxSegments
	}
	if o.MaxReported <= 0 {
		o.MaxReported = 1000
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	return o
}

// RowError is a bad row of the recipients file.
type RowError struct {
	Line int `json:"line"`
	// Field is the column (or "message" for the rendered text) at fault;
	// empty when the row could not be read at all.
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason"`
}

// Duplicate is a row whose number already appeared on an earlier row; the
// first one is kept.
type Duplicate struct {
	Line  int `json:"line"`
	First int `json:"first_line"`
}

// Report says what an import did with each row.
type Report struct {
	// ID is the campaign's id (empty for a dry run).
	ID string `json:"id,omitempty"`
	// Rows is how many data rows the file has (header excluded).
	Rows int `json:"rows"`
	// Recipients is how many were stored: Sendable plus Suppressed.
	Recipients int `json:"recipients"`
	Sendable   int `json:"sendable"`
	Suppressed int `json:"suppressed"`
	Duplicates int `json:"duplicates"`
	Bad        int `json:"bad"`
	// BadRows and DuplicateRows list the first MaxReported of each.
	BadRows       []RowError  `json:"bad_rows,omitempty"`
	DuplicateRows []Duplicate `json:"duplicate_rows,omitempty"`
	// Blocks is how many blocks the sendable recipients make.
	Blocks int `json:"blocks"`
}

// row is one data row on its way through the import.
type row struct {
	line  int
	phone string   // raw, then E.164
	vals  []string // template field values, in Template.Fields order
	key   uint64   // the E.164 digits, for de-duplication
	bad   *RowError
}

// batchRows is how many rows travel together between the import stages.
const batchRows = 2048

// header maps the CSV header to the columns the import needs.
type header struct {
	phone      int
	phoneName  string
	fieldCols  []int // column of each template field
	numColumns int
}

func readHeader(cr *csv.Reader, tpl *Template, phoneColumn string) (header, error) {
	rec, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return header{}, &FieldError{Field: "file", Reason: "empty: want a header row naming the columns, e.g. phone,name"}
	}
	if err != nil {
		return header{}, &FieldError{Field: "file", Reason: "header row: " + err.Error()}
	}
	col := map[string]int{}
	names := make([]string, len(rec))
	for i, h := range rec {
		name := strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		names[i] = name
		if _, dup := col[name]; !dup && name != "" {
			col[name] = i
		}
	}
	h := header{phone: -1, numColumns: len(rec)}
	if phoneColumn != "" {
		want := strings.ToLower(strings.TrimSpace(phoneColumn))
		i, ok := col[want]
		if !ok {
			return header{}, &FieldError{Field: "phone_column", Reason: fmt.Sprintf("%q is not a column of the file (columns: %s)", want, strings.Join(names, ", "))}
		}
		h.phone, h.phoneName = i, want
	} else {
		for _, c := range []string{"phone", "to", "number"} {
			if i, ok := col[c]; ok {
				h.phone, h.phoneName = i, c
				break
			}
		}
		if h.phone < 0 {
			return header{}, &FieldError{Field: "phone_column", Reason: fmt.Sprintf("the header has no phone, to or number column (columns: %s); name it with the phone column option", strings.Join(names, ", "))}
		}
	}
	for _, f := range tpl.Fields() {
		i, ok := col[f]
		if !ok {
			return header{}, &FieldError{Field: "message", Reason: fmt.Sprintf("{{%s}} is not a column of the file (columns: %s)", f, strings.Join(names, ", "))}
		}
		h.fieldCols = append(h.fieldCols, i)
	}
	return h, nil
}

// scanned is one batch of rows after validation, in file order.
type scanned struct {
	rows []row
	err  error // a read error that ends the import
}

// scan reads the CSV after its header and calls sink with every batch of
// validated rows, in file order. Reading, validation (in o.Workers
// goroutines) and sink overlap.
func scan(ctx context.Context, cr *csv.Reader, h header, tpl *Template, o ImportOptions, sink func([]row) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	norm := newNormalizer(o.DefaultRegion)

	type job struct {
		rows []row
		done chan scanned
	}
	jobs := make(chan job, o.Workers*2)
	order := make(chan chan scanned, o.Workers*4)

	go func() { // reader
		defer close(jobs)
		defer close(order)
		send := func(rows []row, err error) bool {
			done := make(chan scanned, 1)
			if err != nil {
				done <- scanned{rows: rows, err: err}
			}
			select {
			case order <- done:
			case <-ctx.Done():
				return false
			}
			if err != nil {
				return false
			}
			select {
			case jobs <- job{rows: rows, done: done}:
				return true
			case <-ctx.Done():
				return false
			}
		}
		batch := make([]row, 0, batchRows)
		for {
			rec, err := cr.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				var pe *csv.ParseError
				if !errors.As(err, &pe) {
					send(batch, err)
					return
				}
				line := pe.StartLine
				if line == 0 {
					line = pe.Line
				}
				batch = append(batch, row{line: line, bad: &RowError{Line: line, Reason: "unreadable CSV row: " + pe.Err.Error()}})
			} else {
				line, _ := cr.FieldPos(0)
				r := row{line: line}
				if h.phone < len(rec) {
					r.phone = strings.TrimSpace(rec[h.phone])
				}
				if len(h.fieldCols) > 0 {
					r.vals = make([]string, len(h.fieldCols))
					for k, c := range h.fieldCols {
						if c < len(rec) {
							r.vals[k] = rec[c]
						}
					}
				}
				batch = append(batch, r)
			}
			if len(batch) == batchRows {
				if !send(batch, nil) {
					return
				}
				batch = make([]row, 0, batchRows)
			}
		}
		if len(batch) > 0 {
			send(batch, nil)
		}
	}()

	for range o.Workers {
		go func() {
			for j := range jobs {
				for i := range j.rows {
					validateRow(&j.rows[i], h, tpl, norm, o.MaxSegments)
				}
				j.done <- scanned{rows: j.rows}
			}
		}()
	}

	for done := range order {
		var s scanned
		select {
		case s = <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if s.err != nil {
			return fmt.Errorf("reading the recipients file: %w", s.err)
		}
		if err := sink(s.rows); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// validateRow normalises the number and checks the rendered text.
func validateRow(r *row, h header, tpl *Template, norm *normalizer, maxSegments int) {
	if r.bad != nil {
		return
	}
	if r.phone == "" {
		r.bad = &RowError{Line: r.line, Field: h.phoneName, Reason: "required"}
		return
	}
	e164, err := norm.normalize(r.phone)
	if err != nil {
		r.bad = &RowError{Line: r.line, Field: h.phoneName, Reason: reasonOf(err)}
		return
	}
	r.phone = e164
	r.key, _ = strconv.ParseUint(e164[1:], 10, 64)
	if tpl.Static() {
		return // checked once for the whole campaign
	}
	if _, err := sms.ValidateText(tpl.Render(r.vals), maxSegments); err != nil {
		r.bad = &RowError{Line: r.line, Field: "message", Reason: "rendered text " + reasonOf(err)}
	}
}

// reasonOf is the operator-facing part of an sms error (it never holds the
// full number).
func reasonOf(err error) string {
	var fe *sms.FieldError
	if errors.As(err, &fe) {
		return fe.Reason
	}
	return err.Error()
}

// tally folds validated rows into the report: bad rows, duplicates (first
// occurrence kept) and suppressed numbers. It returns the rows to send and
// the suppressed ones.
type tally struct {
	rep     *Report
	max     int
	seen    map[uint64]int32 // number → line of its first row
	sup     *suppress.List
	checkOK bool // the suppression list is not empty
}

func (t *tally) add(ctx context.Context, rows []row) (send, suppressed []row, err error) {
	cand := make([]row, 0, len(rows))
	for _, r := range rows {
		t.rep.Rows++
		if r.bad != nil {
			t.rep.Bad++
			if len(t.rep.BadRows) < t.max {
				t.rep.BadRows = append(t.rep.BadRows, *r.bad)
			}
			continue
		}
		if first, dup := t.seen[r.key]; dup {
			t.rep.Duplicates++
			if len(t.rep.DuplicateRows) < t.max {
				t.rep.DuplicateRows = append(t.rep.DuplicateRows, Duplicate{Line: r.line, First: int(first)})
			}
			continue
		}
		t.seen[r.key] = int32(r.line)
		cand = append(cand, r)
	}
	if !t.checkOK || len(cand) == 0 {
		return cand, nil, nil
	}
	nums := make([]string, len(cand))
	for i, r := range cand {
		nums[i] = r.phone
	}
	hit, err := t.sup.ContainsMany(ctx, nums)
	if err != nil {
		return nil, nil, fmt.Errorf("suppression list: %w", err)
	}
	send = cand[:0:0]
	for i, r := range cand {
		if hit[i] {
			suppressed = append(suppressed, r)
		} else {
			send = append(send, r)
		}
	}
	return send, suppressed, nil
}

// appendLine writes r as a recipients line: E.164, then each template
// value, tab separated, with backslash, tab, CR and LF escaped.
func appendLine(dst []byte, r row) []byte {
	dst = append(dst, r.phone...)
	for _, v := range r.vals {
		dst = append(dst, '\t')
		dst = appendEscaped(dst, v)
	}
	return append(dst, '\n')
}

func appendEscaped(dst []byte, v string) []byte {
	if !strings.ContainsAny(v, "\\\t\r\n") {
		return append(dst, v...)
	}
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\n':
			dst = append(dst, '\\', 'n')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

func unescape(v string) string {
	if !strings.Contains(v, "\\") {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c != '\\' || i+1 == len(v) {
			b.WriteByte(c)
			continue
		}
		i++
		switch v[i] {
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'n':
			b.WriteByte('\n')
		default:
			b.WriteByte(v[i])
		}
	}
	return b.String()
}

// Recipient is one stored recipient.
type Recipient struct {
	Index  int
	Number string   // E.164
	Values []string // template field values, in Template.Fields order
}

// parseChunk reads a recipients chunk whose first line is recipient first.
func parseChunk(first int, data string, nfields int) []Recipient {
	out := make([]Recipient, 0, chunkSize)
	for i := first; len(data) > 0; i++ {
		line := data
		if j := strings.IndexByte(data, '\n'); j >= 0 {
			line, data = data[:j], data[j+1:]
		} else {
			data = ""
		}
		r := Recipient{Index: i}
		if nfields == 0 {
			r.Number = line
		} else {
			parts := strings.Split(line, "\t")
			r.Number = parts[0]
			r.Values = make([]string, nfields)
			for k := 0; k < nfields && k+1 < len(parts); k++ {
				r.Values[k] = unescape(parts[k+1])
			}
		}
		out = append(out, r)
	}
	return out
}
