/* Optional accelerator for SAEDashboard batch files: one pass over the JSON bytes that encodes
 * every activation snippet's "tokens" and "values" arrays straight into binary COPY form, and
 * returns the document with those arrays replaced by null (a small "skeleton" that orjson
 * parses in a fraction of the time, since it no longer holds millions of strings and floats).
 *
 * It only accepts: on anything unexpected (malformed JSON, a token that is not a string or holds
 * NUL, a value that is not a JSON number, a lone surrogate, invalid UTF-8, a key given twice in
 * one snippet, ...) scan() returns None and the caller takes the pure-Python path, whose checks
 * name the problem. Built by `make install` (see Makefile); without a C compiler the import works
 * the same, slower.
 *
 * scan(data: bytes) -> None | (skeleton: bytes, token_counts: bytes (int64 per snippet),
 *                               value_counts: bytes (int64 per snippet),
 *                               token_payload: bytes (per token: int32 big-endian length + UTF-8),
 *                               token_row_bytes: bytes (int64 per snippet),
 *                               values: bytes (float64 per value, native order))
 * Snippets are in document order: features[i].activations[j], the order of the skeleton.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *data;
    size_t len, cap;
} Buf;

static int buf_reserve(Buf *b, size_t extra) {
    if (b->len + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) return -1;
    b->data = d;
    b->cap = cap;
    return 0;
}

static int buf_put(Buf *b, const void *src, size_t n) {
    if (buf_reserve(b, n)) return -1;
    memcpy(b->data + b->len, src, n);
    b->len += n;
    return 0;
}

static int buf_put_i64(Buf *b, int64_t v) { return buf_put(b, &v, sizeof v); }

enum { CTX_ANY, CTX_ROOT, CTX_FEATURES, CTX_FEATURE, CTX_ACTS, CTX_ACT };

typedef struct {
    const unsigned char *base, *p, *end;
    const unsigned char *copied; /* skeleton: input before this is written out */
    Buf skel, tok, tcounts, vcounts, rowbytes, vals;
    int depth;
} Scan;

#define FAIL return -1
#define MAX_DEPTH 512

static inline void skip_ws(Scan *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t')) s->p++;
}

static int hex4(const unsigned char *q, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = q[i], d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return -1;
        v = (v << 4) | d;
    }
    *out = v;
    return 0;
}

static int put_utf8(Buf *out, unsigned cp) {
    unsigned char b[4];
    size_t n;
    if (cp < 0x80) { b[0] = cp; n = 1; }
    else if (cp < 0x800) { b[0] = 0xC0 | (cp >> 6); b[1] = 0x80 | (cp & 0x3F); n = 2; }
    else if (cp < 0x10000) {
        b[0] = 0xE0 | (cp >> 12); b[1] = 0x80 | ((cp >> 6) & 0x3F); b[2] = 0x80 | (cp & 0x3F); n = 3;
    } else {
        b[0] = 0xF0 | (cp >> 18); b[1] = 0x80 | ((cp >> 12) & 0x3F);
        b[2] = 0x80 | ((cp >> 6) & 0x3F); b[3] = 0x80 | (cp & 0x3F); n = 4;
    }
    return buf_put(out, b, n);
}

/* Length of a valid UTF-8 sequence starting at q (lead byte >= 0x80), or 0. */
static size_t utf8_seq(const unsigned char *q, const unsigned char *end) {
    unsigned c = q[0];
    size_t n;
    unsigned cp;
    if (c >= 0xC2 && c <= 0xDF) { n = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { n = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 4; cp = c & 0x07; }
    else return 0;
    if ((size_t)(end - q) < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((q[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (q[i] & 0x3F);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return n;
}

/* A JSON string at s->p (on the opening quote). With out != NULL its decoded UTF-8 is appended
 * there (NUL refused). Checks escapes, control characters, surrogate pairs and UTF-8. */
static int parse_string(Scan *s, Buf *out) {
    s->p++; /* opening quote */
    const unsigned char *run = s->p;
    for (;;) {
        if (s->p >= s->end) FAIL;
        unsigned c = *s->p;
        if (c == '"') {
            if (out && buf_put(out, run, s->p - run)) FAIL;
            s->p++;
            return 0;
        }
        if (c < 0x20) FAIL;
        if (c < 0x80 && c != '\\') { s->p++; continue; }
        if (c >= 0x80) {
            size_t n = utf8_seq(s->p, s->end);
            if (!n) FAIL;
            s->p += n;
            continue;
        }
        /* an escape: flush the plain run, then decode */
        if (out && buf_put(out, run, s->p - run)) FAIL;
        if (s->end - s->p < 2) FAIL;
        unsigned e = s->p[1], cp;
        s->p += 2;
        switch (e) {
            case '"': cp = '"'; break;
            case '\\': cp = '\\'; break;
            case '/': cp = '/'; break;
            case 'b': cp = '\b'; break;
            case 'f': cp = '\f'; break;
            case 'n': cp = '\n'; break;
            case 'r': cp = '\r'; break;
            case 't': cp = '\t'; break;
            case 'u':
                if (s->end - s->p < 4 || hex4(s->p, &cp)) FAIL;
                s->p += 4;
                if (cp >= 0xDC00 && cp <= 0xDFFF) FAIL; /* lone low surrogate */
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    unsigned lo;
                    if (s->end - s->p < 6 || s->p[0] != '\\' || s->p[1] != 'u' || hex4(s->p + 2, &lo)) FAIL;
                    if (lo < 0xDC00 || lo > 0xDFFF) FAIL;
                    s->p += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                break;
            default: FAIL;
        }
        if (out) {
            if (cp == 0) FAIL; /* PostgreSQL text cannot hold NUL */
            if (put_utf8(out, cp)) FAIL;
        }
        run = s->p;
    }
}

static const double POW10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* A JSON number (strict grammar); its value in *out when out != NULL, correctly rounded as
 * float() would give it. Most activation values (a few significant digits) take the exact fast
 * path: an integer mantissa below 2^53 times or divided by an exact power of ten is one correctly
 * rounded operation (Clinger). Anything else goes through Python's own strtod. */
static int parse_number(Scan *s, double *out) {
    const unsigned char *start = s->p, *q = s->p;
    uint64_t m = 0;
    int digits = 0, exp10 = 0, lost = 0, neg = 0;
    if (q < s->end && *q == '-') { neg = 1; q++; }
    if (q >= s->end) FAIL;
    if (*q == '0') q++;
    else if (*q >= '1' && *q <= '9') {
        while (q < s->end && *q >= '0' && *q <= '9') {
            if (digits < 19) { m = m * 10 + (*q - '0'); digits++; }
            else { exp10++; lost = 1; }
            q++;
        }
    } else FAIL;
    if (q < s->end && *q == '.') {
        q++;
        if (q >= s->end || *q < '0' || *q > '9') FAIL;
        while (q < s->end && *q >= '0' && *q <= '9') {
            if (digits == 0 && *q == '0') exp10--;
            else if (digits < 19) { m = m * 10 + (*q - '0'); digits++; exp10--; }
            else lost = 1;
            q++;
        }
    }
    if (q < s->end && (*q == 'e' || *q == 'E')) {
        q++;
        int eneg = 0, e = 0;
        if (q < s->end && (*q == '+' || *q == '-')) { eneg = *q == '-'; q++; }
        if (q >= s->end || *q < '0' || *q > '9') FAIL;
        while (q < s->end && *q >= '0' && *q <= '9') {
            if (e < 100000) e = e * 10 + (*q - '0');
            q++;
        }
        exp10 += eneg ? -e : e;
    }
    s->p = q;
    if (!out) return 0;
    if (!lost && m <= (1ULL << 53) && exp10 >= -22 && exp10 <= 22) {
        double v = (double)m;
        v = exp10 < 0 ? v / POW10[-exp10] : v * POW10[exp10];
        *out = neg ? -v : v;
        return 0;
    }
    char tmp[128];
    size_t n = q - start;
    if (n >= sizeof tmp) FAIL; /* absurdly long: let the Python path decide */
    memcpy(tmp, start, n);
    tmp[n] = 0;
    char *endp;
    double v = PyOS_string_to_double(tmp, &endp, NULL);
    if (v == -1.0 && PyErr_Occurred()) { PyErr_Clear(); FAIL; }
    if (endp != tmp + n) FAIL;
    *out = v;
    return 0;
}

static int parse_value(Scan *s, int ctx);

static int literal(Scan *s, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n)) FAIL;
    s->p += n;
    return 0;
}

/* Replace the input from `from` to the current position by "null" in the skeleton. */
static int skeleton_null(Scan *s, const unsigned char *from) {
    if (buf_put(&s->skel, s->copied, from - s->copied) || buf_put(&s->skel, "null", 4)) FAIL;
    s->copied = s->p;
    return 0;
}

static int parse_tokens(Scan *s) {
    const unsigned char *from = s->p;
    if (*s->p != '[') FAIL;
    s->p++;
    int64_t count = 0;
    size_t start = s->tok.len;
    skip_ws(s);
    if (s->p < s->end && *s->p == ']') s->p++;
    else
        for (;;) {
            skip_ws(s);
            if (s->p >= s->end || *s->p != '"') FAIL;
            size_t at = s->tok.len;
            if (buf_reserve(&s->tok, 4)) FAIL;
            s->tok.len += 4;
            if (parse_string(s, &s->tok)) FAIL;
            uint32_t n = (uint32_t)(s->tok.len - at - 4);
            unsigned char *lp = (unsigned char *)s->tok.data + at;
            lp[0] = n >> 24; lp[1] = n >> 16; lp[2] = n >> 8; lp[3] = n;
            count++;
            skip_ws(s);
            if (s->p < s->end && *s->p == ',') { s->p++; continue; }
            if (s->p < s->end && *s->p == ']') { s->p++; break; }
            FAIL;
        }
    if (buf_put_i64(&s->tcounts, count) || buf_put_i64(&s->rowbytes, (int64_t)(s->tok.len - start))) FAIL;
    return skeleton_null(s, from);
}

static int parse_values(Scan *s) {
    const unsigned char *from = s->p;
    if (*s->p != '[') FAIL;
    s->p++;
    int64_t count = 0;
    skip_ws(s);
    if (s->p < s->end && *s->p == ']') s->p++;
    else
        for (;;) {
            skip_ws(s);
            if (s->p >= s->end || !(*s->p == '-' || (*s->p >= '0' && *s->p <= '9'))) FAIL;
            double v;
            if (parse_number(s, &v) || buf_put(&s->vals, &v, sizeof v)) FAIL;
            count++;
            skip_ws(s);
            if (s->p < s->end && *s->p == ',') { s->p++; continue; }
            if (s->p < s->end && *s->p == ']') { s->p++; break; }
            FAIL;
        }
    if (buf_put_i64(&s->vcounts, count)) FAIL;
    return skeleton_null(s, from);
}

#define KEY_IS(k, klen, lit) ((klen) == sizeof(lit) - 1 && !memcmp((k), (lit), sizeof(lit) - 1))

static int parse_object(Scan *s, int ctx) {
    s->p++; /* { */
    int seen_tokens = 0, seen_values = 0;
    skip_ws(s);
    if (s->p < s->end && *s->p == '}') { s->p++; goto done; }
    for (;;) {
        skip_ws(s);
        if (s->p >= s->end || *s->p != '"') FAIL;
        const unsigned char *key = s->p + 1;
        if (parse_string(s, NULL)) FAIL;
        size_t klen = s->p - 1 - key;
        skip_ws(s);
        if (s->p >= s->end || *s->p != ':') FAIL;
        s->p++;
        skip_ws(s);
        if (s->p >= s->end) FAIL;
        int child = CTX_ANY;
        if (ctx == CTX_ROOT && KEY_IS(key, klen, "features")) child = CTX_FEATURES;
        else if (ctx == CTX_FEATURE && KEY_IS(key, klen, "activations")) child = CTX_ACTS;
        if (ctx == CTX_ACT && KEY_IS(key, klen, "tokens")) {
            if (seen_tokens++ || parse_tokens(s)) FAIL;
        } else if (ctx == CTX_ACT && KEY_IS(key, klen, "values")) {
            if (seen_values++ || parse_values(s)) FAIL;
        } else if (parse_value(s, child)) FAIL;
        skip_ws(s);
        if (s->p < s->end && *s->p == ',') { s->p++; continue; }
        if (s->p < s->end && *s->p == '}') { s->p++; break; }
        FAIL;
    }
done:
    if (ctx == CTX_ACT && !(seen_tokens && seen_values)) FAIL;
    return 0;
}

static int parse_array(Scan *s, int ctx) {
    s->p++; /* [ */
    int child = ctx == CTX_FEATURES ? CTX_FEATURE : ctx == CTX_ACTS ? CTX_ACT : CTX_ANY;
    skip_ws(s);
    if (s->p < s->end && *s->p == ']') { s->p++; return 0; }
    for (;;) {
        skip_ws(s);
        if (s->p >= s->end) FAIL;
        /* only objects are features / snippets; anything else is left to the Python checks */
        if (parse_value(s, *s->p == '{' ? child : CTX_ANY)) FAIL;
        skip_ws(s);
        if (s->p < s->end && *s->p == ',') { s->p++; continue; }
        if (s->p < s->end && *s->p == ']') { s->p++; return 0; }
        FAIL;
    }
}

static int parse_value(Scan *s, int ctx) {
    if (s->p >= s->end) FAIL;
    if (++s->depth > MAX_DEPTH) FAIL;
    int r;
    switch (*s->p) {
        case '{': r = parse_object(s, ctx); break;
        case '[': r = parse_array(s, ctx == CTX_FEATURES || ctx == CTX_ACTS ? ctx : CTX_ANY); break;
        case '"': r = parse_string(s, NULL); break;
        case 't': r = literal(s, "true"); break;
        case 'f': r = literal(s, "false"); break;
        case 'n': r = literal(s, "null"); break;
        default: r = parse_number(s, NULL); break;
    }
    s->depth--;
    return r;
}

static PyObject *bytes_of(Buf *b) { return PyBytes_FromStringAndSize(b->data ? b->data : "", b->len); }

static PyObject *scan(PyObject *Py_UNUSED(self), PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    Scan s;
    memset(&s, 0, sizeof s);
    s.base = s.p = s.copied = view.buf;
    s.end = s.base + view.len;
    int ok = 0;
    skip_ws(&s);
    if (s.p < s.end && *s.p == '{' && !parse_value(&s, CTX_ROOT)) {
        skip_ws(&s);
        ok = s.p == s.end && !buf_put(&s.skel, s.copied, s.end - s.copied);
    }
    PyObject *result = NULL;
    if (ok && !PyErr_Occurred()) {
        result = Py_BuildValue("(NNNNNN)", bytes_of(&s.skel), bytes_of(&s.tcounts), bytes_of(&s.vcounts),
                               bytes_of(&s.tok), bytes_of(&s.rowbytes), bytes_of(&s.vals));
    } else if (!PyErr_Occurred()) {
        result = Py_NewRef(Py_None);
    }
    free(s.skel.data); free(s.tok.data); free(s.tcounts.data);
    free(s.vcounts.data); free(s.rowbytes.data); free(s.vals.data);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_O, "Encode a SAEDashboard batch's snippet tokens/values; None when anything is off."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastscan", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__fastscan(void) { return PyModule_Create(&module); }
