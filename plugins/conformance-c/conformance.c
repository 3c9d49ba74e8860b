// upkeep conformance check plugin, in C (wit-bindgen's C bindings, wasi-libc).
//
// Behaves exactly like plugins/conformance-rust and plugins/conformance-py:
// the host's conformance tests run the same cases against all three.
// Built by build.sh; `plugin.h` is generated from plugin-sdk/wit.

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

typedef upkeep_check_host_host_error_t host_error_t;

// ---- small helpers ----------------------------------------------------

static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n);
  if (q == NULL && n != 0) __builtin_trap();
  return q;
}

static int str_is(const plugin_string_t *s, const char *lit) {
  size_t n = strlen(lit);
  return s->len == n && memcmp(s->ptr, lit, n) == 0;
}

// A growable, malloc'd byte buffer; handed to the host as a string.
typedef struct {
  char *ptr;
  size_t len, cap;
} buf_t;

static void buf_add(buf_t *b, const char *data, size_t n) {
  if (b->len + n > b->cap) {
    b->cap = (b->len + n) * 2 + 16;
    b->ptr = xrealloc(b->ptr, b->cap);
  }
  memcpy(b->ptr + b->len, data, n);
  b->len += n;
}

// Appends one space-separated part to the message: "<key>=<printf ...>".
static void part(buf_t *msg, const plugin_string_t *key, const char *fmt, ...) {
  char tail[64];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tail, sizeof tail, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if ((size_t)n >= sizeof tail) n = sizeof tail - 1;
  if (msg->len > 0) buf_add(msg, " ", 1);
  buf_add(msg, (const char *)key->ptr, key->len);
  buf_add(msg, "=", 1);
  buf_add(msg, tail, (size_t)n);
}

static const char *error_kind(const host_error_t *e) {
  switch (e->tag) {
    case UPKEEP_CHECK_HOST_HOST_ERROR_DENIED: return "denied";
    case UPKEEP_CHECK_HOST_HOST_ERROR_TIMED_OUT: return "timed-out";
    case UPKEEP_CHECK_HOST_HOST_ERROR_IO: return "io";
    case UPKEEP_CHECK_HOST_HOST_ERROR_TOO_LARGE: return "too-large";
    case UPKEEP_CHECK_HOST_HOST_ERROR_INVALID: return "invalid";
    default: return "unknown";
  }
}

// Records a failed host call: part "<key>=error:<kind>", probe not ok.
static void failed_call(buf_t *msg, const plugin_string_t *key, host_error_t *e) {
  part(msg, key, "error:%s", error_kind(e));
  upkeep_check_host_host_error_free(e);
}

typedef struct {
  upkeep_check_types_metric_t *ptr;
  size_t len, cap;
} metrics_t;

static void metric(metrics_t *m, const char *name, double value) {
  if (m->len == m->cap) {
    m->cap = m->cap * 2 + 8;
    m->ptr = xrealloc(m->ptr, m->cap * sizeof *m->ptr);
  }
  upkeep_check_types_metric_t *x = &m->ptr[m->len++];
  plugin_string_dup(&x->name, name);  // freed by the bindings' post-return
  x->value = value;
}

static void set_error(plugin_check_error_t *err, uint8_t tag, const char *prefix,
                      const plugin_string_t *suffix) {
  buf_t b = {0};
  buf_add(&b, prefix, strlen(prefix));
  if (suffix != NULL) buf_add(&b, (const char *)suffix->ptr, suffix->len);
  err->tag = tag;
  err->val.bad_config.ptr = (uint8_t *)b.ptr;  // same layout for both arms
  err->val.bad_config.len = b.len;
}

// Decimal u32, digits only (no sign, no spaces). Returns 0 if malformed.
static int parse_count(const plugin_string_t *s, uint32_t *out) {
  if (s->len == 0) return 0;
  uint64_t v = 0;
  for (size_t i = 0; i < s->len; i++) {
    uint8_t c = s->ptr[i];
    if (c < '0' || c > '9') return 0;
    v = v * 10 + (uint64_t)(c - '0');
    if (v > UINT32_MAX) return 0;
  }
  *out = (uint32_t)v;
  return 1;
}

static void log_str(upkeep_check_host_level_t level, const char *text) {
  plugin_string_t s;
  plugin_string_set(&s, text);
  upkeep_check_host_log(level, &s);
}

// Connects to `address`, sends `tcp-send` (default "PING\n") and reads up
// to 256 bytes; *n is how many came back.
static bool tcp_probe(plugin_string_t *address, const plugin_tuple2_string_string_t *args,
                      size_t nargs, size_t *n, host_error_t *e) {
  plugin_list_u8_t data = {(uint8_t *)"PING\n", 5};
  for (size_t j = 0; j < nargs; j++) {
    if (str_is(&args[j].f0, "tcp-send")) {
      data.ptr = args[j].f1.ptr;
      data.len = args[j].f1.len;
      break;
    }
  }
  upkeep_check_host_own_tcp_connection_t conn;
  if (!upkeep_check_host_tcp_connect(address, &conn, e)) return false;
  upkeep_check_host_borrow_tcp_connection_t b = upkeep_check_host_borrow_tcp_connection(conn);
  plugin_list_u8_t got = {NULL, 0};
  bool fine = upkeep_check_host_method_tcp_connection_send(b, &data, e) &&
              upkeep_check_host_method_tcp_connection_receive(b, 256, &got, e);
  upkeep_check_host_tcp_connection_drop_own(conn);
  if (!fine) return false;
  *n = got.len;
  plugin_list_u8_free(&got);
  return true;
}

static void spin(void) {
  volatile uint64_t n = 0;
  for (;;) n++;
}

static void grow(void) {
  // Keeps every block, touching all of its pages; malloc failing (the
  // host's memory limit) traps, as Rust's allocation failure does.
  for (;;) {
    char *p = malloc(1 << 20);
    if (p == NULL) __builtin_trap();
    memset(p, 1, 1 << 20);
    __asm__ volatile("" : : "r"(p) : "memory");
  }
}

// ---- the check ------------------------------------------------------------

static bool check(const plugin_request_t *req, plugin_outcome_t *ret,
                  plugin_check_error_t *err) {
  log_str(UPKEEP_CHECK_HOST_LEVEL_DEBUG, "conformance start");

  const plugin_tuple2_string_string_t *args = req->args.ptr;
  size_t nargs = req->args.len;
  buf_t msg = {0};
  metrics_t metrics = {0};
  bool ok = true;

  for (size_t i = 0; i < nargs; i++) {
    const plugin_string_t *key = &args[i].f0;
    plugin_string_t value = args[i].f1;
    host_error_t e;

    if (str_is(key, "http")) {
      upkeep_check_host_http_response_t resp;
      plugin_list_tuple2_string_string_t headers = {NULL, 0};
      if (!upkeep_check_host_http_get(&value, &headers, &resp, &e)) {
        ok = false;
        failed_call(&msg, key, &e);
        continue;
      }
      ok = ok && resp.status == 200;
      part(&msg, key, "%u", (unsigned)resp.status);
      metric(&metrics, "http.status", resp.status);
      upkeep_check_host_http_response_free(&resp);

    } else if (str_is(key, "tcp")) {
      size_t n;
      if (!tcp_probe(&value, args, nargs, &n, &e)) {
        ok = false;
        failed_call(&msg, key, &e);
        continue;
      }
      ok = ok && n >= 1;
      part(&msg, key, "%zuB", n);
      metric(&metrics, "tcp.bytes", (double)n);

    } else if (str_is(key, "real-server")) {
      upkeep_check_host_endpoint_t rs;
      if (!upkeep_check_host_real_server(&rs)) {
        ok = false;
        part(&msg, key, "none");
        continue;
      }
      // "IP:PORT", with brackets around an IPv6 address.
      bool v6 = memchr(rs.ip.ptr, ':', rs.ip.len) != NULL;
      char port[8];
      snprintf(port, sizeof port, "%u", (unsigned)rs.port);
      buf_t addr = {0};
      if (v6) buf_add(&addr, "[", 1);
      buf_add(&addr, (const char *)rs.ip.ptr, rs.ip.len);
      buf_add(&addr, v6 ? "]:" : ":", v6 ? 2 : 1);
      buf_add(&addr, port, strlen(port));
      upkeep_check_host_endpoint_free(&rs);
      plugin_string_t a = {(uint8_t *)addr.ptr, addr.len};
      size_t n;
      bool fine = tcp_probe(&a, args, nargs, &n, &e);
      free(addr.ptr);
      if (!fine) {
        ok = false;
        failed_call(&msg, key, &e);
        continue;
      }
      ok = ok && n >= 1;
      part(&msg, key, "%zuB", n);
      metric(&metrics, "tcp.bytes", (double)n);

    } else if (str_is(key, "unix")) {
      plugin_list_u8_t request = {(uint8_t *)"show info\n", 10};
      plugin_list_u8_t got;
      if (!upkeep_check_host_unix_exchange(&value, &request, &got, &e)) {
        ok = false;
        failed_call(&msg, key, &e);
        continue;
      }
      ok = ok && got.len >= 1;
      part(&msg, key, "%zuB", got.len);
      metric(&metrics, "unix.bytes", (double)got.len);
      plugin_list_u8_free(&got);

    } else if (str_is(key, "file")) {
      plugin_list_u8_t got;
      if (!upkeep_check_host_read_file(&value, &got, &e)) {
        ok = false;
        failed_call(&msg, key, &e);
        continue;
      }
      part(&msg, key, "%zuB", got.len);
      metric(&metrics, "file.bytes", (double)got.len);
      plugin_list_u8_free(&got);

    } else if (str_is(key, "process")) {
      uint32_t count;
      if (!upkeep_check_host_process_count(&value, &count, &e)) {
        ok = false;
        failed_call(&msg, key, &e);
        continue;
      }
      ok = ok && count >= 1;
      part(&msg, key, "%u", (unsigned)count);
      metric(&metrics, "process.count", count);

    } else if (str_is(key, "tcp-send")) {
      // Used by `tcp`.

    } else if (str_is(key, "log")) {
      uint32_t n;
      if (!parse_count(&value, &n)) {
        set_error(err, UPKEEP_CHECK_TYPES_CHECK_ERROR_BAD_CONFIG, "log wants a count, not ", &value);
        goto fail;
      }
      for (uint32_t j = 0; j < n; j++) {
        char line[32];
        snprintf(line, sizeof line, "line %u", (unsigned)j);
        log_str(UPKEEP_CHECK_HOST_LEVEL_INFO, line);
      }
      part(&msg, key, "%u", (unsigned)n);

    } else if (str_is(key, "spin")) {
      spin();
    } else if (str_is(key, "grow")) {
      grow();
    } else if (str_is(key, "trap")) {
      __builtin_trap();
    } else {
      set_error(err, UPKEEP_CHECK_TYPES_CHECK_ERROR_BAD_CONFIG, "unknown arg ", key);
      goto fail;
    }
  }

  uint64_t first = upkeep_check_host_monotonic_now();
  uint64_t second = upkeep_check_host_monotonic_now();
  if (second < first) {
    set_error(err, UPKEEP_CHECK_TYPES_CHECK_ERROR_FAILED, "clock went backwards", NULL);
    goto fail;
  }
  metric(&metrics, "args", (double)nargs);

  ret->pass = ok;
  ret->message.ptr = (uint8_t *)msg.ptr;
  ret->message.len = msg.len;
  ret->metrics.ptr = metrics.ptr;
  ret->metrics.len = metrics.len;
  return true;

fail:
  free(msg.ptr);
  upkeep_check_types_list_metric_t m = {metrics.ptr, metrics.len};
  upkeep_check_types_list_metric_free(&m);
  return false;
}

// The bindings hand over ownership of `request`; the result is freed by the
// bindings' post-return function after the host has copied it out.
bool exports_plugin_check(plugin_request_t *request, plugin_outcome_t *ret,
                          plugin_check_error_t *err) {
  bool ok = check(request, ret, err);
  plugin_request_free(request);
  return ok;
}
