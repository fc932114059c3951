/*
 * Optional C accelerator for txws: WebSocket masking (RFC 6455, 5.3).
 *
 * mask(data, key) -> bytes: XOR data with the 4-byte key repeated.
 * mask_join(pieces, key) -> bytes: the same for the pieces joined, with a
 * single copy. The pure-Python fallbacks in txws/speedups.py do the same;
 * these run at memory speed, 8 bytes at a time.
 *
 * parse_run(buf, pos, masked, limit, out) -> int: the parser's hot loop for
 * the usual frames (see txws/speedups.py); Python does everything else.
 *
 * ready(value): an awaitable of a value already there, for async for.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* XOR n bytes of in with the key (as seen from in's first byte) into out. */
static void
unmask(const unsigned char *in, unsigned char *out, Py_ssize_t n, const unsigned char *k)
{
    Py_ssize_t i = 0;
    uint32_t key4;
    uint64_t key8;

    memcpy(&key4, k, 4);
    key8 = ((uint64_t)key4 << 32) | key4;
    for (; i + 8 <= n; i += 8) {
        uint64_t chunk;
        memcpy(&chunk, in + i, 8);
        chunk ^= key8;
        memcpy(out + i, &chunk, 8);
    }
    for (; i < n; i++)
        out[i] = in[i] ^ k[i & 3];
}

static PyObject *
speedups_mask(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data, key;
    PyObject *result;
    const unsigned char *in, *k;
    unsigned char *out;
    Py_ssize_t n;

    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "mask() takes exactly 2 arguments");
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) < 0)
        return NULL;
    if (PyObject_GetBuffer(args[1], &key, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    if (key.len != 4) {
        PyBuffer_Release(&data);
        PyBuffer_Release(&key);
        PyErr_SetString(PyExc_ValueError, "the mask must be 4 bytes");
        return NULL;
    }
    n = data.len;
    result = PyBytes_FromStringAndSize(NULL, n);
    if (result == NULL) {
        PyBuffer_Release(&data);
        PyBuffer_Release(&key);
        return NULL;
    }
    in = (const unsigned char *)data.buf;
    k = (const unsigned char *)key.buf;
    out = (unsigned char *)PyBytes_AS_STRING(result);

    Py_BEGIN_ALLOW_THREADS
    unmask(in, out, n, k);
    Py_END_ALLOW_THREADS

    PyBuffer_Release(&data);
    PyBuffer_Release(&key);
    return result;
}

static PyObject *
speedups_mask_join(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer key, piece;
    PyObject *seq, *result = NULL;
    PyObject **items;
    unsigned char *out;
    unsigned char k[4];
    Py_ssize_t count, total = 0, i, j, at = 0;

    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "mask_join() takes exactly 2 arguments");
        return NULL;
    }
    if (PyObject_GetBuffer(args[1], &key, PyBUF_SIMPLE) < 0)
        return NULL;
    if (key.len != 4) {
        PyBuffer_Release(&key);
        PyErr_SetString(PyExc_ValueError, "the mask must be 4 bytes");
        return NULL;
    }
    memcpy(k, key.buf, 4);
    PyBuffer_Release(&key);
    seq = PySequence_Fast(args[0], "mask_join() needs a sequence of buffers");
    if (seq == NULL)
        return NULL;
    count = PySequence_Fast_GET_SIZE(seq);
    items = PySequence_Fast_ITEMS(seq);
    for (i = 0; i < count; i++) {
        if (PyObject_GetBuffer(items[i], &piece, PyBUF_SIMPLE) < 0)
            goto done;
        total += piece.len;
        PyBuffer_Release(&piece);
    }
    result = PyBytes_FromStringAndSize(NULL, total);
    if (result == NULL)
        goto done;
    out = (unsigned char *)PyBytes_AS_STRING(result);
    for (i = 0; i < count; i++) {
        const unsigned char *in;
        unsigned char *dst, rolled[4];
        Py_ssize_t n;

        if (PyObject_GetBuffer(items[i], &piece, PyBUF_SIMPLE) < 0) {
            Py_CLEAR(result);
            goto done;
        }
        if (at + piece.len > total) {
            /* A piece grew between the two passes. */
            PyBuffer_Release(&piece);
            Py_CLEAR(result);
            PyErr_SetString(PyExc_ValueError, "a piece changed size");
            goto done;
        }
        in = (const unsigned char *)piece.buf;
        /* Locals, not piece.len and out + at: the compiler cannot keep a
           field of a struct whose address escaped in a register, and did
           not vectorise a loop that re-read it (1.9x slower). */
        n = piece.len;
        dst = out + at;
        /* The key as seen from this piece's first byte. */
        for (j = 0; j < 4; j++)
            rolled[j] = k[(at + j) & 3];
        unmask(in, dst, n, rolled);
        at += n;
        PyBuffer_Release(&piece);
    }
    if (at != total) {
        Py_CLEAR(result);
        PyErr_SetString(PyExc_ValueError, "a piece changed size");
    }
done:
    Py_DECREF(seq);
    return result;
}

/*
 * The frame at d[0:avail] if it is whole and a message on its own: FIN
 * set, no reserved bits, text or binary, masked if and only if `masked`, a
 * payload of at most `limit` bytes (-1: no limit), and for text, valid
 * UTF-8. Returns 1 with *message (str for text, bytes for binary) and
 * *size (the frame's length) set; 0 for anything else, which is the Python
 * parser's to parse and report, and, if `exact`, for a frame that does not
 * end at d[avail]; -1 with an exception set on failure.
 */
static int
parse_frame(const unsigned char *d, Py_ssize_t avail, int masked, Py_ssize_t limit, int exact,
            PyObject **message, Py_ssize_t *size)
{
    Py_ssize_t header = 2;
    uint64_t length;
    unsigned char b0, b1;
    const unsigned char *key = NULL, *payload;
    unsigned char scratch[512];

    if (avail < 2)
        return 0;
    b0 = d[0];
    b1 = d[1];
    if ((b0 != 0x81 && b0 != 0x82) || ((b1 & 0x80) != 0) != masked)
        return 0;
    length = b1 & 0x7F;
    if (length == 126) {
        if (avail < 4)
            return 0;
        length = ((uint64_t)d[2] << 8) | d[3];
        header = 4;
    }
    else if (length == 127) {
        int i;
        if (avail < 10)
            return 0;
        length = 0;
        for (i = 2; i < 10; i++)
            length = (length << 8) | d[i];
        header = 10;
    }
    if (masked) {
        if (avail < header + 4)
            return 0;
        key = d + header;
        header += 4;
    }
    /* (A length over the limit or what is left also covers the 64-bit
       length's top bit: the Python parser refuses those.) */
    if ((limit >= 0 && length > (uint64_t)limit) || length > (uint64_t)(avail - header))
        return 0;
    if (exact && length != (uint64_t)(avail - header))
        return 0;
    payload = d + header;
    if (b0 == 0x82) {
        if (masked) {
            *message = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)length);
            if (*message != NULL)
                unmask(payload, (unsigned char *)PyBytes_AS_STRING(*message),
                       (Py_ssize_t)length, key);
        }
        else
            *message = PyBytes_FromStringAndSize((const char *)payload, (Py_ssize_t)length);
    }
    else {
        const unsigned char *text = payload;
        unsigned char *heap = NULL;

        if (masked) {
            if (length <= sizeof(scratch))
                text = scratch;
            else {
                text = heap = PyMem_Malloc((size_t)length);
                if (heap == NULL) {
                    PyErr_NoMemory();
                    return -1;
                }
            }
            unmask(payload, (unsigned char *)text, (Py_ssize_t)length, key);
        }
        *message = PyUnicode_DecodeUTF8((const char *)text, (Py_ssize_t)length, NULL);
        PyMem_Free(heap);
        if (*message == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
            /* The Python parser raises the protocol's own error. */
            PyErr_Clear();
            return 0;
        }
    }
    if (*message == NULL)
        return -1;
    *size = header + (Py_ssize_t)length;
    return 1;
}

static int
parse_arguments(PyObject *const *args, int *masked, Py_ssize_t *limit)
{
    *masked = PyObject_IsTrue(args[0]);
    if (*masked < 0)
        return -1;
    *limit = PyLong_AsSsize_t(args[1]);
    if (*limit == -1 && PyErr_Occurred())
        return -1;
    return 0;
}

/*
 * parse_run(buf, pos, masked, limit, out) -> int
 *
 * From buf[pos:], parse the run of whole frames that are each a message on
 * their own (see parse_frame), append each message to the list `out` and
 * return the position of the first byte not parsed: anything else (a
 * control frame, a fragment, a frame not yet whole, a protocol error,
 * invalid UTF-8) is left to the Python parser, which reports it.
 */
static PyObject *
speedups_parse_run(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    const unsigned char *d;
    Py_ssize_t pos, end, limit;
    int masked;
    PyObject *out;

    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "parse_run() takes exactly 5 arguments");
        return NULL;
    }
    pos = PyLong_AsSsize_t(args[1]);
    if (pos == -1 && PyErr_Occurred())
        return NULL;
    if (parse_arguments(args + 2, &masked, &limit) < 0)
        return NULL;
    out = args[4];
    if (!PyList_Check(out)) {
        PyErr_SetString(PyExc_TypeError, "parse_run() needs a list to append to");
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    d = (const unsigned char *)view.buf;
    end = view.len;
    if (pos < 0 || pos > end) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "position out of range");
        return NULL;
    }
    for (;;) {
        PyObject *message;
        Py_ssize_t size;
        int parsed = parse_frame(d + pos, end - pos, masked, limit, 0, &message, &size), appended;

        if (parsed == 0)
            break;
        if (parsed < 0)
            goto error;
        appended = PyList_Append(out, message);
        Py_DECREF(message);
        if (appended < 0)
            goto error;
        pos += size;
    }
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(pos);
error:
    PyBuffer_Release(&view);
    return NULL;
}

/*
 * parse_one(data, masked, limit) -> str | bytes | None
 *
 * The message if `data` is exactly one frame that parse_run would parse,
 * else None: the usual read of a request-response exchange, in one call.
 */
static PyObject *
speedups_parse_one(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    Py_ssize_t limit, size = 0;
    int masked, parsed;
    PyObject *message = NULL;

    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "parse_one() takes exactly 3 arguments");
        return NULL;
    }
    if (parse_arguments(args + 1, &masked, &limit) < 0)
        return NULL;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    parsed = parse_frame((const unsigned char *)view.buf, view.len, masked, limit, 1, &message, &size);
    PyBuffer_Release(&view);
    if (parsed < 0)
        return NULL;
    if (parsed == 0)
        Py_RETURN_NONE;
    return message;
}

/*
 * ready(value): an awaitable that gives `value` at once, without a Python
 * frame: what `async for` over a connection awaits when a message is
 * already queued. Awaiting it twice gives None the second time.
 */
typedef struct {
    PyObject_HEAD
    PyObject *value;
} ReadyObject;

static void
ready_dealloc(ReadyObject *self)
{
    Py_XDECREF(self->value);
    PyObject_Free(self);
}

static PyObject *
ready_self(PyObject *self)
{
    Py_INCREF(self);
    return self;
}

static PyObject *
ready_take(ReadyObject *self)
{
    PyObject *value = self->value;
    self->value = NULL;
    if (value == NULL) {
        Py_INCREF(Py_None);
        value = Py_None;
    }
    return value;
}

/* Python 3.10 and 3.11 send through am_send: no StopIteration at all. */
static PySendResult
ready_send(PyObject *self, PyObject *arg, PyObject **result)
{
    *result = ready_take((ReadyObject *)self);
    return PYGEN_RETURN;
}

/* Later versions (and tracing) call tp_iternext: StopIteration(value). */
static PyObject *
ready_iternext(PyObject *self)
{
    PyObject *value = ready_take((ReadyObject *)self), *stop;

    stop = PyObject_CallOneArg(PyExc_StopIteration, value);
    Py_DECREF(value);
    if (stop != NULL) {
        PyErr_SetObject(PyExc_StopIteration, stop);
        Py_DECREF(stop);
    }
    return NULL;
}

static PyAsyncMethods ready_as_async = {ready_self, NULL, NULL, ready_send};

static PyTypeObject ReadyType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "txws._speedups.Ready",
    .tp_basicsize = sizeof(ReadyObject),
    .tp_dealloc = (destructor)ready_dealloc,
    .tp_as_async = &ready_as_async,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "An awaitable of a value already there.",
    .tp_iter = ready_self,
    .tp_iternext = ready_iternext,
};

static PyObject *
speedups_ready(PyObject *module, PyObject *value)
{
    ReadyObject *self = PyObject_New(ReadyObject, &ReadyType);

    if (self == NULL)
        return NULL;
    Py_INCREF(value);
    self->value = value;
    return (PyObject *)self;
}

static PyMethodDef speedups_methods[] = {
    {"mask", (PyCFunction)(void (*)(void))speedups_mask, METH_FASTCALL,
     "mask(data, key) -> bytes: XOR data with the 4-byte key repeated."},
    {"mask_join", (PyCFunction)(void (*)(void))speedups_mask_join, METH_FASTCALL,
     "mask_join(pieces, key) -> bytes: mask(b''.join(pieces), key) in one pass."},
    {"parse_run", (PyCFunction)(void (*)(void))speedups_parse_run, METH_FASTCALL,
     "parse_run(buf, pos, masked, limit, out) -> int: whole one-frame messages, parsed."},
    {"parse_one", (PyCFunction)(void (*)(void))speedups_parse_one, METH_FASTCALL,
     "parse_one(data, masked, limit): the message if data is one such frame, else None."},
    {"ready", speedups_ready, METH_O, "ready(value): an awaitable of value, at once."},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT, "txws._speedups",
    "Optional C accelerator for txws (masking, the parser's hot loop).", -1, speedups_methods
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    if (PyType_Ready(&ReadyType) < 0)
        return NULL;
    return PyModule_Create(&speedups_module);
}
