package mask

import (
	"io"
	"sync"
)

// maxPooledBuf caps the buffers kept for reuse, so one huge line does not
// pin its memory for the life of the process.
const maxPooledBuf = 64 << 10

// NewWriter returns a writer that removes secrets (nil for none) and then
// masks phone-like runs (see Text) in everything written through it, before
// passing it on to w. zerolog writes one event per Write call, so each log
// line is masked whole. It is safe for concurrent use when w is. A line
// with nothing to hide is passed on as is, without copying.
func NewWriter(w io.Writer, secrets *Secrets) io.Writer {
	return &writer{out: w, secrets: secrets}
}

type writer struct {
	out     io.Writer
	secrets *Secrets
	bufs    sync.Pool // of *lineBufs
}

type lineBufs struct{ redacted, masked []byte }

func (w *writer) Write(p []byte) (int, error) {
	b, _ := w.bufs.Get().(*lineBufs)
	if b == nil {
		b = new(lineBufs)
	}
	line := p
	if out, ok := w.secrets.appendRedacted(b.redacted[:0], line); ok {
		b.redacted, line = out, out
	}
	if out, ok := appendMasked(b.masked[:0], line); ok {
		b.masked, line = out, out
	}
	_, err := w.out.Write(line)
	if cap(b.redacted) <= maxPooledBuf && cap(b.masked) <= maxPooledBuf {
		w.bufs.Put(b)
	}
	if err != nil {
		return 0, err
	}
	// The caller's bytes were all consumed, whatever length reached w.
	return len(p), nil
}
