package collector

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// FeedVersion is the version of the messages the collector writes to its parent. It changes
// when a parent of the previous version would misread a message; a field that an older parent
// can ignore (a new key in an object) does not change it.
const FeedVersion = 1

// ErrFeedVersion is wrapped by the error [DecodeMessage] returns for a message of a version
// other than [FeedVersion].
var ErrFeedVersion = errors.New("unknown collector message version")

// Message is what the collector tells its parent after each poll attempt.
//
// On the wire it is one line of JSON ([AppendMessage]):
//
//	{"v":1,"health":{...},"tick":{"seq":7,"at":1700000000123,"took_us":812,"peers":[
//	  ["<device id>",rxTotal,txTotal,rxRate,txRate,handshake],...]}}
//
// health is [Health] with its JSON tags. tick is left out when the poll failed. at is Unix
// milliseconds, took_us microseconds. peers holds only the devices whose Peer.Changed is
// true; a device that is not listed did not change: its rates are 0, its totals and
// handshake are those it last had. Totals are integers (exact beyond 2^53), rates bytes/s
// to one decimal, the handshake Unix seconds, 0 for never. A peer carries its device id
// only: the parent has the names and keys in its database.
type Message struct {
	Health Health // always
	Tick   *Tick  // nil when the poll failed
}

// AppendMessage appends m to dst as one line of JSON, ending in '\n'.
//
// Only the peers of m.Tick whose Changed is true are written, with their device id, totals,
// rates rounded to 0.1 byte/s and handshake truncated to the second; at is truncated to the
// millisecond and took to the microsecond.
func AppendMessage(dst []byte, m Message) []byte {
	dst = append(dst, `{"v":`...)
	dst = strconv.AppendInt(dst, FeedVersion, 10)
	dst = append(dst, `,"health":`...)
	dst = appendHealth(dst, m.Health)
	if t := m.Tick; t != nil {
		dst = append(dst, `,"tick":{"seq":`...)
		dst = strconv.AppendUint(dst, t.Seq, 10)
		dst = append(dst, `,"at":`...)
		dst = strconv.AppendInt(dst, t.At.UnixMilli(), 10)
		dst = append(dst, `,"took_us":`...)
		dst = strconv.AppendInt(dst, t.Took.Microseconds(), 10)
		dst = append(dst, `,"peers":[`...)
		first := true
		for i := range t.Peers {
			p := &t.Peers[i]
			if !p.Changed {
				continue
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = append(dst, '[')
			dst = appendString(dst, p.DeviceID)
			dst = append(dst, ',')
			dst = strconv.AppendInt(dst, p.RxTotal, 10)
			dst = append(dst, ',')
			dst = strconv.AppendInt(dst, p.TxTotal, 10)
			dst = append(dst, ',')
			dst = appendRate(dst, p.RxRate)
			dst = append(dst, ',')
			dst = appendRate(dst, p.TxRate)
			dst = append(dst, ',')
			var handshake int64
			if !p.LatestHandshake.IsZero() {
				handshake = p.LatestHandshake.Unix()
			}
			dst = strconv.AppendInt(dst, handshake, 10)
			dst = append(dst, ']')
		}
		dst = append(dst, "]}"...)
	}
	return append(dst, "}\n"...)
}

// appendHealth writes h with its JSON tags. Marshal fails only for a time outside the years
// 0 to 9999 (a broken clock): such a time is written as never.
func appendHealth(dst []byte, h Health) []byte {
	b, err := json.Marshal(h)
	if err != nil {
		if h.LastTick.Year() < 0 || h.LastTick.Year() > 9999 {
			h.LastTick = time.Time{}
		}
		if h.Push.LastSuccess.Year() < 0 || h.Push.LastSuccess.Year() > 9999 {
			h.Push.LastSuccess = time.Time{}
		}
		if b, err = json.Marshal(h); err != nil {
			return append(dst, "{}"...)
		}
	}
	return append(dst, b...)
}

// appendRate writes r rounded to one decimal, without a trailing ".0". Rates too large for
// tenths to matter are written whole; JSON has no NaN or infinity, so those are written as 0.
func appendRate(dst []byte, r float64) []byte {
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return append(dst, '0')
	}
	tenths := math.Round(r * 10)
	if math.Abs(tenths) >= 1<<53 {
		return strconv.AppendFloat(dst, math.Round(r), 'f', -1, 64)
	}
	n := int64(tenths)
	if n < 0 {
		dst = append(dst, '-')
		n = -n
	}
	dst = strconv.AppendInt(dst, n/10, 10)
	if d := n % 10; d != 0 {
		dst = append(dst, '.', byte('0'+d))
	}
	return dst
}

// appendString writes s as a JSON string. Invalid UTF-8 becomes U+FFFD, as with encoding/json.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\ufffd`...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, `\n`...)
		case '\r':
			dst = append(dst, `\r`...)
		case '\t':
			dst = append(dst, `\t`...)
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// DecodeMessage reads a line written by [AppendMessage] (with or without its newline). The
// decoded tick holds the changed peers only, each with Changed set; times are in the local
// time zone. A message of another version is refused with an error wrapping
// [ErrFeedVersion]; anything that is not a well-formed message is refused with an error
// saying what is wrong and where.
func DecodeMessage(line []byte) (Message, error) {
	m, err := decodeMessage(line)
	if err != nil {
		return Message{}, fmt.Errorf("decode collector message: %w", err)
	}
	return m, nil
}

func decodeMessage(line []byte) (Message, error) {
	d := &feedDecoder{b: line}
	if !d.consume('{') {
		return Message{}, d.errorf("want an object")
	}
	var (
		m                  Message
		version            int64
		haveVersion        bool
		health             []byte
		tickAt             = -1 // where the tick starts when it came before the version
		haveTick, tickDone bool
	)
	for n := 0; !d.consume('}'); n++ {
		if n > 0 && !d.consume(',') {
			return Message{}, d.errorf("want , or }")
		}
		key, err := d.key()
		if err != nil {
			return Message{}, err
		}
		switch string(key) {
		case "v":
			if version, err = d.int64(); err != nil {
				return Message{}, fmt.Errorf("version: %w", err)
			}
			if version != FeedVersion {
				return Message{}, fmt.Errorf("version %d, this program reads version %d: %w", version, FeedVersion, ErrFeedVersion)
			}
			haveVersion = true
		case "health":
			start := d.pos()
			if err := d.skip(0); err != nil {
				return Message{}, fmt.Errorf("health: %w", err)
			}
			health = d.b[start:d.i]
		case "tick":
			haveTick = true
			if haveVersion {
				if m.Tick, err = d.tick(); err != nil {
					return Message{}, fmt.Errorf("tick: %w", err)
				}
				tickDone = true
				continue
			}
			tickAt = d.pos()
			if err := d.skip(0); err != nil {
				return Message{}, fmt.Errorf("tick: %w", err)
			}
		default:
			if err := d.skip(0); err != nil {
				return Message{}, fmt.Errorf("%q: %w", key, err)
			}
		}
	}
	if d.ws(); d.i < len(d.b) {
		return Message{}, d.errorf("text after the message")
	}
	if !haveVersion {
		return Message{}, errors.New("no version")
	}
	if health == nil {
		return Message{}, errors.New("no health")
	}
	if err := json.Unmarshal(health, &m.Health); err != nil {
		return Message{}, fmt.Errorf("health: %w", err)
	}
	if haveTick && !tickDone {
		td := &feedDecoder{b: line, i: tickAt}
		var err error
		if m.Tick, err = td.tick(); err != nil {
			return Message{}, fmt.Errorf("tick: %w", err)
		}
	}
	return m, nil
}

// feedDecoder reads JSON from b at i. Its methods skip the whitespace before what they read.
type feedDecoder struct {
	b []byte
	i int
}

// maxDepth bounds how deeply the values the decoder skips may nest.
const maxDepth = 64

func (d *feedDecoder) errorf(format string, args ...any) error {
	return fmt.Errorf(format+" at byte %d", append(args, d.i)...)
}

func (d *feedDecoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// pos skips whitespace and returns where the next value starts.
func (d *feedDecoder) pos() int {
	d.ws()
	return d.i
}

// consume reads c if it comes next.
func (d *feedDecoder) consume(c byte) bool {
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// literal reads word if it comes next.
func (d *feedDecoder) literal(word string) bool {
	d.ws()
	if bytes.HasPrefix(d.b[d.i:], []byte(word)) {
		d.i += len(word)
		return true
	}
	return false
}

// key reads an object key and its colon.
func (d *feedDecoder) key() ([]byte, error) {
	key, err := d.str()
	if err != nil {
		return nil, err
	}
	if !d.consume(':') {
		return nil, d.errorf("want :")
	}
	return key, nil
}

// str reads a string. The result points into the line unless the string has escapes or
// invalid UTF-8.
func (d *feedDecoder) str() ([]byte, error) {
	if !d.consume('"') {
		return nil, d.errorf("want a string")
	}
	start := d.i
	for j := start; j < len(d.b); j++ {
		switch c := d.b[j]; {
		case c == '"':
			s := d.b[start:j]
			if !utf8.Valid(s) {
				return d.strSlow(start - 1)
			}
			d.i = j + 1
			return s, nil
		case c == '\\':
			return d.strSlow(start - 1)
		case c < 0x20:
			d.i = j
			return nil, d.errorf("control character in a string")
		}
	}
	d.i = len(d.b)
	return nil, d.errorf("unterminated string")
}

// strSlow reads the string that starts with the quote at start, with encoding/json.
func (d *feedDecoder) strSlow(start int) ([]byte, error) {
	j := start + 1
	for ; j < len(d.b) && d.b[j] != '"'; j++ {
		if d.b[j] == '\\' {
			j++
		}
	}
	if j >= len(d.b) {
		d.i = len(d.b)
		return nil, d.errorf("unterminated string")
	}
	var s string
	if err := json.Unmarshal(d.b[start:j+1], &s); err != nil {
		d.i = start
		return nil, d.errorf("bad string: %v", err)
	}
	d.i = j + 1
	return []byte(s), nil
}

// digits reads a JSON number's integer part and returns its value (saturated at
// math.MaxUint64), its sign and its number of digits.
func (d *feedDecoder) digits() (u uint64, neg bool, n int, err error) {
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == '-' {
		neg = true
		d.i++
	}
	start := d.i
	for ; d.i < len(d.b); d.i++ {
		c := d.b[d.i] - '0'
		if c > 9 {
			break
		}
		if u > (math.MaxUint64-uint64(c))/10 {
			u = math.MaxUint64
		} else {
			u = u*10 + uint64(c)
		}
	}
	n = d.i - start
	if n == 0 {
		return 0, false, 0, d.errorf("want a number")
	}
	if n > 1 && d.b[start] == '0' {
		d.i = start
		return 0, false, 0, d.errorf("number with a leading zero")
	}
	return u, neg, n, nil
}

// integer reads a number that has no fraction or exponent.
func (d *feedDecoder) integer() (u uint64, neg bool, err error) {
	u, neg, _, err = d.digits()
	if err != nil {
		return 0, false, err
	}
	if d.i < len(d.b) {
		switch d.b[d.i] {
		case '.', 'e', 'E':
			return 0, false, d.errorf("want an integer")
		}
	}
	return u, neg, nil
}

func (d *feedDecoder) int64() (int64, error) {
	u, neg, err := d.integer()
	if err != nil {
		return 0, err
	}
	if neg {
		if u > 1<<63 {
			return 0, d.errorf("integer out of range")
		}
		return -int64(u), nil
	}
	if u > math.MaxInt64 {
		return 0, d.errorf("integer out of range")
	}
	return int64(u), nil
}

func (d *feedDecoder) uint64() (uint64, error) {
	u, neg, err := d.integer()
	if err != nil {
		return 0, err
	}
	if u == math.MaxUint64 || (neg && u != 0) {
		// MaxUint64 is also where digits saturates: refuse it rather than tell them apart.
		return 0, d.errorf("integer out of range")
	}
	return u, nil
}

// pow10 holds the powers of ten a float64 represents exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12,
	1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// float reads a number. A number of at most 15 digits and no exponent, which is every rate
// AppendMessage writes, is an exact integer divided by an exact power of ten: one IEEE
// division rounds it as strconv.ParseFloat would.
func (d *feedDecoder) float() (float64, error) {
	d.ws()
	start := d.i
	mant, neg, n, err := d.digits()
	if err != nil {
		return 0, err
	}
	frac := 0
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		fracStart := d.i
		for ; d.i < len(d.b) && d.b[d.i]-'0' <= 9; d.i++ {
			if mant <= (math.MaxUint64-9)/10 {
				mant = mant*10 + uint64(d.b[d.i]-'0')
			}
		}
		if frac = d.i - fracStart; frac == 0 {
			return 0, d.errorf("want a digit after the decimal point")
		}
	}
	exp := false
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		exp = true
		d.i++
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		expStart := d.i
		for d.i < len(d.b) && d.b[d.i]-'0' <= 9 {
			d.i++
		}
		if d.i == expStart {
			return 0, d.errorf("want a digit in the exponent")
		}
	}
	if !exp && n+frac <= 15 {
		f := float64(mant) / pow10[frac]
		if neg {
			f = -f
		}
		return f, nil
	}
	f, err := strconv.ParseFloat(string(d.b[start:d.i]), 64)
	if err != nil {
		return 0, d.errorf("number out of range")
	}
	return f, nil
}

// skip reads any JSON value.
func (d *feedDecoder) skip(depth int) error {
	if depth > maxDepth {
		return d.errorf("nested too deeply")
	}
	d.ws()
	if d.i >= len(d.b) {
		return d.errorf("want a value")
	}
	switch c := d.b[d.i]; c {
	case '{', '[':
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		d.i++
		if d.consume(end) {
			return nil
		}
		for {
			if c == '{' {
				if _, err := d.key(); err != nil {
					return err
				}
			}
			if err := d.skip(depth + 1); err != nil {
				return err
			}
			if d.consume(end) {
				return nil
			}
			if !d.consume(',') {
				return d.errorf("want , or %c", end)
			}
		}
	case '"':
		_, err := d.str()
		return err
	case 't', 'f', 'n':
		if d.literal("true") || d.literal("false") || d.literal("null") {
			return nil
		}
		return d.errorf("want a value")
	default:
		_, err := d.float()
		return err
	}
}

// tick reads a tick object, or null.
func (d *feedDecoder) tick() (*Tick, error) {
	if d.literal("null") {
		return nil, nil
	}
	if !d.consume('{') {
		return nil, d.errorf("want an object")
	}
	t := &Tick{}
	var haveSeq, haveAt bool
	for n := 0; !d.consume('}'); n++ {
		if n > 0 && !d.consume(',') {
			return nil, d.errorf("want , or }")
		}
		key, err := d.key()
		if err != nil {
			return nil, err
		}
		switch string(key) {
		case "seq":
			t.Seq, err = d.uint64()
			haveSeq = true
		case "at":
			var ms int64
			ms, err = d.int64()
			t.At = time.UnixMilli(ms)
			haveAt = true
		case "took_us":
			var us int64
			if us, err = d.int64(); err == nil && (us > math.MaxInt64/1000 || us < math.MinInt64/1000) {
				err = d.errorf("duration out of range")
			}
			t.Took = time.Duration(us) * time.Microsecond
		case "peers":
			t.Peers, err = d.peers()
		default:
			err = d.skip(0)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
	}
	if !haveSeq || !haveAt {
		return nil, errors.New("want seq and at")
	}
	return t, nil
}

// peerFields names the elements of a peer's array, for errors.
var peerFields = [...]string{"device id", "rx total", "tx total", "rx rate", "tx rate", "handshake"}

// peers reads the array of changed peers. Every device id is a substring of one string, so
// the peers cost a few allocations, not one per peer.
func (d *feedDecoder) peers() ([]Peer, error) {
	if d.literal("null") {
		return nil, nil
	}
	if !d.consume('[') {
		return nil, d.errorf("want an array")
	}
	// Each peer's array has one ']' (unless an id has some): a close guess at the number of
	// peers. A line of garbage could make it huge: beyond 65,536 the slices grow as needed.
	guess := min(bytes.Count(d.b[d.i:], []byte{']'}), 1<<16)
	peers := make([]Peer, 0, guess)
	ends := make([]int, 0, guess)
	ids := make([]byte, 0, 40*guess)
	if d.consume(']') {
		return peers, nil
	}
	for {
		if err := d.peer(&peers, &ids); err != nil {
			return nil, fmt.Errorf("peer %d: %w", len(peers), err)
		}
		ends = append(ends, len(ids))
		if d.consume(']') {
			break
		}
		if !d.consume(',') {
			return nil, d.errorf("want , or ]")
		}
	}
	all, start := string(ids), 0
	for i, end := range ends {
		peers[i].DeviceID = all[start:end]
		start = end
	}
	return peers, nil
}

// peer reads one peer's array, appends the peer to peers and its device id to ids.
func (d *feedDecoder) peer(peers *[]Peer, ids *[]byte) error {
	if !d.consume('[') {
		return d.errorf("want an array")
	}
	p := Peer{Changed: true}
	var handshake int64
	var err error
	for field := range len(peerFields) {
		if field > 0 && !d.consume(',') {
			return d.errorf("%s: want ,", peerFields[field])
		}
		switch field {
		case 0:
			var id []byte
			id, err = d.str()
			*ids = append(*ids, id...)
		case 1:
			p.RxTotal, err = d.int64()
		case 2:
			p.TxTotal, err = d.int64()
		case 3:
			p.RxRate, err = d.float()
		case 4:
			p.TxRate, err = d.float()
		case 5:
			handshake, err = d.int64()
		}
		if err != nil {
			return fmt.Errorf("%s: %w", peerFields[field], err)
		}
	}
	if !d.consume(']') {
		return d.errorf("want ] after %d elements", len(peerFields))
	}
	if handshake != 0 {
		p.LatestHandshake = time.Unix(handshake, 0)
	}
	*peers = append(*peers, p)
	return nil
}
