package cli

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/smsq/smsq/tasks"
)

// Row is one line of a bulk file.
type Row struct {
	Line int
	Req  tasks.SendRequest
}

// RowError is a bad line of a bulk file.
type RowError struct {
	Line   int    `json:"line"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason"`
}

// ReadBulk parses a CSV (header row naming columns: to, text, and
// optionally provider, from, id, send_at is not supported per row) or a
// JSON-lines file (one SendRequest object per line). Format is chosen by
// extension: .csv, or .jsonl/.ndjson/.json.
func ReadBulk(path string, r io.Reader) ([]Row, []RowError, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		return readCSV(r)
	case ".jsonl", ".ndjson", ".json":
		return readJSONL(r)
	}
	return nil, nil, fmt.Errorf("bulk file %s: use a .csv or .jsonl file", path)
}

func readCSV(r io.Reader) ([]Row, []RowError, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("bulk csv: header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	for _, need := range []string{"to", "text"} {
		if _, ok := col[need]; !ok {
			return nil, nil, fmt.Errorf("bulk csv: header has no %q column (have %s)", need, strings.Join(header, ","))
		}
	}
	get := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	var rows []Row
	var bad []RowError
	line := 1
	for {
		rec, err := cr.Read()
		line++
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				bad = append(bad, RowError{Line: pe.Line, Reason: pe.Err.Error()})
				continue
			}
			return nil, nil, err
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		line, _ = cr.FieldPos(0)
		rows = append(rows, Row{Line: line, Req: tasks.SendRequest{To: get(rec, "to"), Text: get(rec, "text"),
			Provider: get(rec, "provider"), From: get(rec, "from"), ID: get(rec, "id")}})
	}
	return rows, bad, nil
}

func readJSONL(r io.Reader) ([]Row, []RowError, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	var rows []Row
	var bad []RowError
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" {
			continue
		}
		var req tasks.SendRequest
		dec := json.NewDecoder(strings.NewReader(s))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			bad = append(bad, RowError{Line: line, Reason: "not a message object: " + err.Error()})
			continue
		}
		rows = append(rows, Row{Line: line, Req: req})
	}
	return rows, bad, sc.Err()
}

// BulkReport is what a bulk run did.
type BulkReport struct {
	Rows       int        `json:"rows"`
	Queued     int        `json:"queued"`
	Duplicates int        `json:"duplicates"`
	Suppressed int        `json:"suppressed"`
	Bad        []RowError `json:"bad,omitempty"`
	IDs        []string   `json:"ids,omitempty"`
}

func (e *env) bulkCmd() *cobra.Command {
	var provider, from string
	var strict, bulkQueue bool
	cmd := &cobra.Command{
		Use:   "bulk <file.csv|file.jsonl>",
		Short: "Queue many messages from a CSV or JSON-lines file",
		Long: `Reads every row, validates all of them first, reports each bad row by line
number and reason, then queues the good rows (none at all with --strict when
any row is bad). CSV needs a header with at least "to" and "text" columns;
"provider", "from" and "id" are optional.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			rows, bad, err := ReadBulk(args[0], f)
			if err != nil {
				return err
			}
			unparsed := len(bad)
			_, conn, c, err := e.open()
			if err != nil {
				return err
			}
			defer conn.Close()
			defer c.Close()
			rules := c.Rules()
			var good []tasks.SendRequest
			for _, row := range rows {
				if row.Req.Provider == "" {
					row.Req.Provider = provider
				}
				if row.Req.From == "" {
					row.Req.From = from
				}
				row.Req.Bulk = bulkQueue
				n, err := rules.Normalize(row.Req)
				if err != nil {
					var fe *tasks.FieldError
					re := RowError{Line: row.Line, Reason: err.Error()}
					if errors.As(err, &fe) {
						re.Field, re.Reason = fe.Field, fe.Reason
					}
					bad = append(bad, re)
					continue
				}
				good = append(good, n)
			}
			rep := BulkReport{Rows: len(rows) + unparsed, Bad: bad}
			if strict && len(bad) > 0 {
				e.printBulk(rep)
				return fmt.Errorf("%d bad rows; nothing queued (--strict)", len(bad))
			}
			var bar *progressbar.ProgressBar
			if !e.jsonOut {
				bar = progressbar.NewOptions(len(good), progressbar.OptionSetWriter(e.stderr),
					progressbar.OptionSetDescription("queueing"), progressbar.OptionShowCount(), progressbar.OptionThrottle(100_000_000))
			}
			for _, req := range good {
				acc, err := c.Send(cmd.Context(), req)
				if err != nil {
					return fmt.Errorf("queued %d of %d, then: %w", rep.Queued, len(good), err)
				}
				switch {
				case acc.Duplicate:
					rep.Duplicates++
				case acc.Message.State == "suppressed":
					rep.Suppressed++
				default:
					rep.Queued++
				}
				rep.IDs = append(rep.IDs, acc.Message.ID)
				if bar != nil {
					_ = bar.Add(1)
				}
			}
			if bar != nil {
				_ = bar.Finish()
				fmt.Fprintln(e.stderr)
			}
			e.printBulk(rep)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&provider, "provider", "p", "", "provider for rows that name none")
	f.StringVarP(&from, "from", "f", "", "sender for rows that name none")
	f.BoolVar(&strict, "strict", false, "queue nothing when any row is bad")
	f.BoolVar(&bulkQueue, "bulk-queue", true, "put the messages on the bulk queue (behind transactional traffic)")
	return cmd
}

func (e *env) printBulk(rep BulkReport) {
	if e.jsonOut {
		_ = e.printJSON(rep)
		return
	}
	for _, b := range rep.Bad {
		if b.Field != "" {
			fmt.Fprintf(e.stdout, "line %d: %s: %s\n", b.Line, b.Field, b.Reason)
		} else {
			fmt.Fprintf(e.stdout, "line %d: %s\n", b.Line, b.Reason)
		}
	}
	fmt.Fprintf(e.stdout, "%d rows: %d queued, %d duplicates, %d suppressed, %d bad\n",
		rep.Rows, rep.Queued, rep.Duplicates, rep.Suppressed, len(rep.Bad))
}
