package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/smsq/smsq/app"
	"github.com/smsq/smsq/campaign"
	"github.com/smsq/smsq/config"
	"github.com/smsq/smsq/pacing"
	"github.com/smsq/smsq/suppress"
)

func init() { extraCommands = append(extraCommands, (*env).campaignCmd) }

// rfc3339Offset is RFC 3339 with a numeric offset, also for UTC.
const rfc3339Offset = "2006-01-02T15:04:05-07:00"

func (e *env) campaignCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "campaign",
		Short: "Create, plan, watch and control paced bulk campaigns",
		Long: `A campaign sends one message template to the recipients of a CSV file,
optionally paced: blocks of --smsxblock messages every --minutesxblock
minutes, only on --days and inside --time-intervals (in the --tz zone).
The scheduler (cmd/scheduler, or the worker in embedded mode) enqueues
the blocks; workers send them.`,
	}
	cmd.AddCommand(e.campaignCreateCmd(), e.campaignPlanCmd(), e.campaignListCmd(), e.campaignStatusCmd(),
		e.campaignStateCmd("pause", "Pause before the next batch and block; pending recipients wait", (*campaign.Store).Pause),
		e.campaignStateCmd("resume", "Resume a paused campaign", (*campaign.Store).Resume),
		e.campaignStateCmd("cancel", "Stop a campaign for good; what was submitted stays submitted", (*campaign.Store).Cancel))
	return cmd
}

// campaignFlags are the definition flags create and plan share.
type campaignFlags struct {
	def         campaign.Definition
	file        string
	phoneColumn string
	strict      bool
}

func (f *campaignFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.def.Name, "name", "", "a label for people (default: the id)")
	fl.StringVarP(&f.def.Provider, "provider", "p", "", "provider: keccel, sakari, conectaline or kandy")
	fl.StringVar(&f.file, "file", "", "recipients CSV: a header row, a phone column and the template's fields")
	fl.StringVar(&f.phoneColumn, "phone-column", "", `column holding the numbers (default: "phone", "to" or "number")`)
	fl.StringVarP(&f.def.Message, "message", "m", "", `message template; {{column}} is filled from the recipient's row`)
	fl.StringVarP(&f.def.From, "from", "f", "", "sender name or number (default: the provider's configured sender)")
	fl.StringVar(&f.def.Pacing.StartDate, "start-date", "", `first block, "yyyy-mm-dd hh:mm" in --tz (default: now)`)
	fl.StringVar(&f.def.Pacing.TimeZone, "tz", "UTC", "IANA time zone of --start-date, --days and --time-intervals")
	fl.IntVar(&f.def.Pacing.SMSPerBlock, "smsxblock", 0, "messages per block (with --minutesxblock; neither: as fast as the provider allows)")
	fl.IntVar(&f.def.Pacing.MinutesPerBlock, "minutesxblock", 0, "minutes between block starts (with --smsxblock)")
	fl.StringVar(&f.def.Pacing.Days, "days", "", `allowed weekdays, "1,2,3,4,5" (1 = Monday; default: every day)`)
	fl.StringVar(&f.def.Pacing.TimeIntervals, "time-intervals", "", `allowed daily windows, "09:00-13:00,17:00-21:00" (default: all day)`)
	fl.BoolVar(&f.strict, "strict", false, "create nothing when any row is bad")
}

// spec returns the pacing with start_date defaulted to the current minute.
func (f *campaignFlags) spec() pacing.Spec {
	p := f.def.Pacing
	if p.StartDate == "" {
		loc, err := time.LoadLocation(p.TimeZone)
		if err != nil || p.TimeZone == "" || p.TimeZone == "Local" {
			return p // pacing.Parse names the zone problem
		}
		p.StartDate = time.Now().In(loc).Format("2006-01-02 15:04")
	}
	return p
}

func (f *campaignFlags) importOptions(cfg config.Config) campaign.ImportOptions {
	return campaign.ImportOptions{PhoneColumn: f.phoneColumn, DefaultRegion: cfg.Send.DefaultRegion,
		MaxSegments: cfg.Send.MaxSegments, Strict: f.strict}
}

// openCampaigns loads the config and connects, checking Redis answers.
func (e *env) openCampaigns(ctx context.Context) (config.Config, *app.Conn, *campaign.Store, error) {
	cfg, err := config.Load(e.configPath, e.environ)
	if err != nil {
		return cfg, nil, nil, err
	}
	cfg = app.Effective(cfg)
	conn, err := app.Connect(cfg)
	if err != nil {
		return cfg, nil, nil, err
	}
	if err := app.Ping(ctx, cfg, conn); err != nil {
		conn.Close()
		return cfg, nil, nil, err
	}
	return cfg, conn, campaign.NewStore(conn.Redis, campaign.StoreOptions{}), nil
}

func (e *env) campaignCreateCmd() *cobra.Command {
	var f campaignFlags
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Import the recipients and schedule a campaign",
		Example: `  enqueue campaign create --name "May promo" -p conectaline --file customers.csv \
    -m "Hola {{name}}, 20% hoy" --start-date "2026-05-04 09:00" --tz Europe/Madrid \
    --smsxblock 1000 --minutesxblock 20 --days 1,2,3,4,5 --time-intervals 09:00-13:00,17:00-21:00`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.file == "" {
				return &campaign.FieldError{Field: "file", Reason: "required: the recipients CSV (--file)"}
			}
			file, err := os.Open(f.file)
			if err != nil {
				return err
			}
			defer file.Close()
			cfg, conn, store, err := e.openCampaigns(cmd.Context())
			if err != nil {
				return err
			}
			defer conn.Close()
			d := f.def
			d.Pacing = f.spec()
			o := campaign.CreateOptions{ImportOptions: f.importOptions(cfg), Providers: cfg.Providers.Names(),
				BlockSize: app.CampaignBlockSize(cfg, conn, strings.ToLower(strings.TrimSpace(d.Provider)))}
			o.Suppress = suppress.New(conn.Redis, "")
			rep, err := store.Create(cmd.Context(), d, file, o)
			if rep.Rows > 0 || rep.ID != "" {
				e.printReport(rep, err == nil)
			}
			return err
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&f.def.ID, "id", "", "campaign id (default: generated)")
	return cmd
}

func (e *env) printReport(rep campaign.Report, created bool) {
	if e.jsonOut {
		if created {
			_ = e.printJSON(rep)
		}
		return // a failed create prints its error as JSON instead
	}
	for _, b := range rep.BadRows {
		if b.Field != "" {
			fmt.Fprintf(e.stdout, "line %d: %s: %s\n", b.Line, b.Field, b.Reason)
		} else {
			fmt.Fprintf(e.stdout, "line %d: %s\n", b.Line, b.Reason)
		}
	}
	if n := rep.Bad - len(rep.BadRows); n > 0 {
		fmt.Fprintf(e.stdout, "… and %d more bad rows\n", n)
	}
	for _, d := range rep.DuplicateRows {
		fmt.Fprintf(e.stdout, "line %d: duplicate of line %d (skipped)\n", d.Line, d.First)
	}
	if n := rep.Duplicates - len(rep.DuplicateRows); n > 0 {
		fmt.Fprintf(e.stdout, "… and %d more duplicates\n", n)
	}
	fmt.Fprintf(e.stdout, "%d rows: %d recipients (%d to send, %d suppressed), %d duplicates, %d bad; %d blocks\n",
		rep.Rows, rep.Recipients, rep.Sendable, rep.Suppressed, rep.Duplicates, rep.Bad, rep.Blocks)
	if created {
		fmt.Fprintf(e.stdout, "campaign %s scheduled\n", rep.ID)
	}
}

// planBlock is one entry of `plan --json`.
type planBlock struct {
	Block      int    `json:"block"`
	Start      string `json:"start"`
	Recipients int    `json:"recipients"`
}

func (e *env) campaignPlanCmd() *cobra.Command {
	var f campaignFlags
	var recipients int
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Print a campaign's block schedule without creating anything",
		Long: `Takes the same flags as create, plus --recipients N or --file. With --file
the rows are validated and de-duplicated as create would (suppressed
numbers are left out when Redis is reachable). With --json it prints an
array of {"block", "start", "recipients"} in block order.`,
		Example: `  enqueue campaign plan --recipients 2500 --smsxblock 1000 --minutesxblock 1 \
    --start-date "2026-05-04 09:00" --tz Europe/Madrid --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec := f.spec()
			plan, err := pacing.Parse(spec)
			if err != nil {
				return err
			}
			n := recipients
			switch {
			case f.file != "" && recipients > 0:
				return &campaign.FieldError{Field: "recipients", Reason: "give --recipients or --file, not both"}
			case f.file != "":
				rep, err := e.checkFile(cmd.Context(), f, spec)
				if err != nil {
					return err
				}
				if !e.jsonOut {
					e.printReport(rep, false)
				}
				n = rep.Sendable
			case recipients <= 0:
				return &campaign.FieldError{Field: "recipients", Reason: "give a positive --recipients count or a --file"}
			}
			blocks := plan.Schedule(n, 0)
			out := make([]planBlock, len(blocks))
			for i, b := range blocks {
				out[i] = planBlock{Block: b.Index, Start: b.Start.Format(rfc3339Offset), Recipients: b.Count}
			}
			if e.jsonOut {
				return e.printJSON(out)
			}
			if !plan.Paced() {
				fmt.Fprintln(e.stdout, "not paced: every recipient goes from the start as fast as the provider allows")
			}
			for _, b := range blocks {
				fmt.Fprintf(e.stdout, "block %d: recipients %d-%d from %s\n", b.Index, b.First, b.First+b.Count-1,
					b.Start.Format("Mon 2006-01-02 15:04 MST"))
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().IntVar(&recipients, "recipients", 0, "number of recipients to plan for (instead of --file)")
	return cmd
}

// checkFile validates a recipients file for plan, with the suppression
// list when Redis answers.
func (e *env) checkFile(ctx context.Context, f campaignFlags, spec pacing.Spec) (campaign.Report, error) {
	file, err := os.Open(f.file)
	if err != nil {
		return campaign.Report{}, err
	}
	defer file.Close()
	d := f.def
	d.Pacing = spec
	if d.Provider == "" {
		d.Provider = "plan" // not needed to plan; any SMS provider name passes
	}
	if d.Message == "" {
		d.Message = "-"
	}
	cfg, err := config.Load(e.configPath, e.environ)
	if err != nil {
		return campaign.Report{}, err
	}
	o := campaign.CreateOptions{ImportOptions: f.importOptions(cfg)}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, conn, _, err := e.openCampaigns(pctx); err == nil {
		defer conn.Close()
		o.Suppress = suppress.New(conn.Redis, "")
	} else if !e.jsonOut {
		fmt.Fprintln(e.stderr, "note: Redis not reachable; suppressed numbers are not left out of the plan")
	}
	return campaign.Check(ctx, d, file, o)
}

func (e *env) campaignListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List campaigns, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, conn, store, err := e.openCampaigns(cmd.Context())
			if err != nil {
				return err
			}
			defer conn.Close()
			list, err := store.List(cmd.Context())
			if err != nil {
				return err
			}
			if e.jsonOut {
				if list == nil {
					list = []*campaign.Campaign{}
				}
				return e.printJSON(list)
			}
			if len(list) == 0 {
				fmt.Fprintln(e.stdout, "no campaigns")
				return nil
			}
			fmt.Fprintf(e.stdout, "%-20s %-10s %-12s %-12s %s\n", "ID", "STATE", "PROVIDER", "PROGRESS", "NAME")
			for _, c := range list {
				fmt.Fprintf(e.stdout, "%-20s %-10s %-12s %-12s %s\n", c.ID, c.State, c.Provider,
					fmt.Sprintf("%d/%d", c.Processed(), c.Sendable), c.Name)
			}
			return nil
		},
	}
}

// campaignStatus is `status --json`: the campaign and its outlook.
type campaignStatus struct {
	*campaign.Campaign
	Outlook campaign.Outlook `json:"outlook"`
}

func (e *env) campaignStatusCmd() *cobra.Command {
	var watch bool
	var every time.Duration
	cmd := &cobra.Command{
		Use:   "status <id>",
		Short: "Show a campaign's counts per state, next block and ETA",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			_, conn, store, err := e.openCampaigns(ctx)
			if err != nil {
				return err
			}
			defer conn.Close()
			get := func() (campaignStatus, error) {
				c, err := store.Get(ctx, args[0])
				if err != nil {
					return campaignStatus{}, err
				}
				o, err := c.Outlook(time.Now())
				return campaignStatus{Campaign: c, Outlook: o}, err
			}
			st, err := get()
			if err != nil {
				return err
			}
			if !watch {
				if e.jsonOut {
					return e.printJSON(st)
				}
				e.printStatus(st)
				return nil
			}
			return e.watch(ctx, st, get, every)
		},
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "keep showing progress until the campaign is done or cancelled")
	cmd.Flags().DurationVar(&every, "every", time.Second, "refresh interval with --watch")
	return cmd
}

// watch shows a live progress bar (or one JSON line per refresh).
func (e *env) watch(ctx context.Context, st campaignStatus, get func() (campaignStatus, error), every time.Duration) error {
	var bar *progressbar.ProgressBar
	if !e.jsonOut {
		bar = progressbar.NewOptions64(int64(max(st.Sendable, 1)), progressbar.OptionSetWriter(e.stderr),
			progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(false), progressbar.OptionThrottle(0))
	}
	enc := json.NewEncoder(e.stdout)
	for {
		if bar != nil {
			_ = bar.Set64(st.Processed())
			bar.Describe(describe(st))
		} else if err := enc.Encode(st); err != nil {
			return err
		}
		if st.State.Final() {
			if bar != nil {
				_ = bar.Finish()
				fmt.Fprintln(e.stderr)
				e.printStatus(st)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			if bar != nil {
				fmt.Fprintln(e.stderr)
			}
			return nil
		case <-time.After(every):
		}
		var err error
		if st, err = get(); err != nil {
			return err
		}
	}
}

func describe(st campaignStatus) string {
	s := fmt.Sprintf("%s %s", st.ID, st.State)
	if st.InFlight() {
		s += fmt.Sprintf(", block %d/%d", st.NextBlock, st.Blocks)
	}
	if !st.Outlook.ETA.IsZero() && !st.State.Final() {
		s += ", eta " + st.Outlook.ETA.Local().Format("15:04:05")
	}
	return s
}

func (e *env) printStatus(st campaignStatus) {
	c, o := st.Campaign, st.Outlook
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(e.stdout, "%-12s %s\n", k+":", v)
		}
	}
	row("id", c.ID)
	row("name", c.Name)
	state := string(c.State)
	if c.PauseReason != "" {
		state += " (" + c.PauseReason + ")"
	}
	row("state", state)
	row("provider", c.Provider)
	row("pacing", describePacing(c.Pacing))
	row("recipients", fmt.Sprintf("%d (%d to send, %d suppressed)", c.Total, c.Sendable, c.Total-c.Sendable))
	blocks := fmt.Sprintf("%d of %d done", c.BlocksDone, c.Blocks)
	if c.InFlight() {
		blocks += fmt.Sprintf("; block %d started %s", c.NextBlock-1, c.LastBlockStart.Format(time.RFC3339))
	}
	row("blocks", blocks)
	if o.NextBlock >= 0 && !o.NextBlockAt.IsZero() {
		row("next block", fmt.Sprintf("%d at %s", o.NextBlock, o.NextBlockAt.Format(time.RFC3339)))
	}
	if !o.ETA.IsZero() {
		label := "eta"
		if c.State == campaign.Done {
			label = "finished"
		}
		row(label, o.ETA.Format(time.RFC3339))
	}
	if done := o.Delivered + o.Failed + o.Expired; done > 0 || o.AwaitingReport > 0 {
		row("delivery", fmt.Sprintf("%d delivered, %d failed, %d expired, %d awaiting a report; rate %.1f%%",
			o.Delivered, o.Failed, o.Expired, o.AwaitingReport, 100*o.DeliveryRate))
	}
	var counts []string
	for _, s := range campaign.RecipientStates() {
		if n := c.Counts[s.String()]; n > 0 || s == campaign.Pending || s == campaign.Submitted {
			counts = append(counts, fmt.Sprintf("%s %d", s, n))
		}
	}
	row("counts", strings.Join(counts, ", "))
	if c.Resent > 0 {
		row("resent", fmt.Sprintf("%d (a worker stopped mid-call; the provider may have received these twice)", c.Resent))
	}
}

func describePacing(p pacing.Spec) string {
	if p.SMSPerBlock == 0 {
		return fmt.Sprintf("not paced, from %s (%s)", p.StartDate, p.TimeZone)
	}
	s := fmt.Sprintf("%d every %d min from %s (%s)", p.SMSPerBlock, p.MinutesPerBlock, p.StartDate, p.TimeZone)
	if p.Days != "" {
		s += ", days " + p.Days
	}
	if p.TimeIntervals != "" {
		s += ", " + p.TimeIntervals
	}
	return s
}

func (e *env) campaignStateCmd(use, short string, op func(*campaign.Store, context.Context, string) (*campaign.Campaign, error)) *cobra.Command {
	return &cobra.Command{
		Use:   use + " <id>",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, conn, store, err := e.openCampaigns(cmd.Context())
			if err != nil {
				return err
			}
			defer conn.Close()
			c, err := op(store, cmd.Context(), args[0])
			if err != nil {
				if errors.Is(err, campaign.ErrNotFound) || errors.Is(err, campaign.ErrState) {
					return err
				}
				return fmt.Errorf("%s %s: %w", use, args[0], err)
			}
			if e.jsonOut {
				return e.printJSON(c)
			}
			fmt.Fprintf(e.stdout, "%s\t%s\n", c.ID, c.State)
			return nil
		},
	}
}
