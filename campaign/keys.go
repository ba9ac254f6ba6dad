package campaign

import (
	"crypto/rand"
	"encoding/binary"
	"regexp"
	"strconv"
	"time"
)

// chunkSize is how many recipients one recipients key holds. 1000 lines of
// ~15–60 bytes stay well inside a cheap GET and match the largest batch.
const chunkSize = 1000

// pidChunk is how many recipients one provider-id hash covers: few enough
// that the hash stays a compact listpack (Redis converts above 128
// entries), many enough that the key itself costs ~1 byte a recipient.
const pidChunk = 100

// keys names every Redis key of one campaign.
type keys struct {
	meta, states, lock string
	chunkPrefix        string
	pidPrefix          string
	polls              string
}

func newKeys(prefix, id string) keys {
	base := prefix + "c:{" + id + "}"
	return keys{meta: base, states: base + ":s", lock: base + ":lock", chunkPrefix: base + ":r:", pidPrefix: base + ":d:",
		polls: base + ":dl"}
}

func (k keys) chunk(n int) string { return k.chunkPrefix + strconv.Itoa(n) }

// pids is the hash holding the provider id of recipient idx, under the
// field pidField(idx).
func (k keys) pids(idx int) string { return k.pidPrefix + strconv.Itoa(idx/pidChunk) }

func pidField(idx int) string { return strconv.Itoa(idx % pidChunk) }

// idPattern is what a given campaign id may look like. No ":" (it
// separates the block number in task ids) and no braces (hash tags).
var idPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// crockford is Crockford's base32 alphabet, lower case: sortable, no
// look-alike letters.
const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

// NewID returns a fresh campaign id: "c-", then 48 bits of milliseconds
// (10 base32 digits) and 30 random bits (6 digits), so ids sort by
// creation time.
func NewID(now time.Time) string {
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	var b [16]byte
	encode32(b[:10], uint64(now.UnixMilli())&(1<<48-1))
	encode32(b[10:], uint64(binary.BigEndian.Uint32(rnd[:])&(1<<30-1)))
	return "c-" + string(b[:])
}

// encode32 writes v into dst in base32, most significant digit first.
func encode32(dst []byte, v uint64) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = crockford[v&31]
		v >>= 5
	}
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v)
}
