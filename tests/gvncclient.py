#!/usr/bin/python3
"""gvncclient - reads one framebuffer through gtk-vnc and writes it as a
binary PPM, for the end-to-end tests.

gtk-vnc (libgvnc, the library behind virt-viewer, remote-viewer and
virt-manager) is driven headless through GObject introspection: a
GVnc.Connection, a GVnc.BaseFramebuffer and a GLib main loop; no GTK, no
X display. Run it with /usr/bin/python3, the interpreter python3-gi is
installed for.

Certificates. gtk-vnc 1.3 takes no certificate file names: the answer to
its "client name" credential makes it look, first under /etc/pki and then
under ~/.pki of the current user's passwd entry (not $HOME), for
CA/cacert.pem, CA/cacrl.pem, NAME/clientcert.pem and
NAME/private/clientkey.pem; a file it does not find is simply not used
(no CA file: the system trust store). So:

  --ca/--cert/--key/--crl  this program builds such a ~/.pki in a temporary
      directory and runs itself again under nss_wrapper
      (LD_PRELOAD=libnss_wrapper.so, NSS_WRAPPER_PASSWD naming a passwd
      file whose entry for the current uid has that home); the library is
      found with --nss-wrapper, $NSS_WRAPPER_LIB or in /usr/lib*.
  --client-name NAME  the caller provides that home itself (for example
      with nss_wrapper, as tests/e2e/gtk-vnc.sh does for gvnccapture);
      NAME is the directory under ~/.pki holding the client's files.

Without either, the client name "gvncclient" is given, so files in
~/.pki/gvncclient/ of the real home would be used.

Subtypes are chosen as gtk-vnc's gvnccapture does (X509SASL, X509Plain,
X509Vnc, X509None, then the anonymous TLS ones), unless --subtype names
one. --user and --password answer the Plain subtypes.

stdout, one line per event:
  "subtype NAME"            the VeNCrypt subtype chosen
  "ok WxH"                  the image is written; exit 0
  "auth-failure: REASON"    gtk-vnc's vnc-auth-failure (the reason the
                            server sent in its SecurityResult); exit 1
  "error: MESSAGE"          gtk-vnc's vnc-error, or a credential this
                            program was not given; exit 1
  "timeout: MESSAGE"        no complete framebuffer in time; exit 2
  "internal: MESSAGE"       setup failure (nss_wrapper, files); exit 2
A refused client prints "error: REASON" (gtk-vnc reports the error first)
and then "auth-failure: REASON". Control characters are shown as '?'.
Usage errors go to stderr with exit 2; --debug sends gtk-vnc's debug log
to stderr.
"""

import argparse
import ctypes
import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import traceback

import gi

gi.require_version("GVnc", "1.0")
from gi.repository import GLib, GObject, GVnc  # noqa: E402

PROG = "gvncclient"
DEFAULT_CLIENT_NAME = "gvncclient"
# Set in the environment of the copy of this program that runs under
# nss_wrapper: the home holding the .pki directory built for it.
HOME_ENV = "GVNCCLIENT_PKI_HOME"
SYSTEM_PKI = "/etc/pki"

AUTH_NONE = 1
AUTH_VNC = 2
AUTH_TLS = 18
AUTH_VENCRYPT = 19
AUTH_SASL = 20
AUTH_MSLOGON = 0xfffffffa

# gvnccapture's preferences (gvnccapture.c in gtk-vnc 1.3).
PREFERRED_TYPES = [AUTH_VENCRYPT, AUTH_TLS, AUTH_SASL, AUTH_MSLOGON, AUTH_VNC, AUTH_NONE]

SUBTYPES = {
    "Plain": 256,
    "TLSNone": 257,
    "TLSVnc": 258,
    "TLSPlain": 259,
    "X509None": 260,
    "X509Vnc": 261,
    "X509Plain": 262,
    "X509SASL": 263,
    "TLSSASL": 264,
}
SUBTYPE_NAMES = {number: name for name, number in SUBTYPES.items()}
PREFERRED_SUBTYPES = [SUBTYPES[n] for n in (
    "X509SASL", "X509Plain", "X509Vnc", "X509None",
    "TLSSASL", "TLSPlain", "TLSVnc", "TLSNone")]

CRED_USERNAME = int(GVnc.ConnectionCredential.USERNAME)
CRED_PASSWORD = int(GVnc.ConnectionCredential.PASSWORD)
CRED_CLIENTNAME = int(GVnc.ConnectionCredential.CLIENTNAME)


def clean(text):
    """One line of output: control characters as '?'."""
    return "".join("?" if ord(c) < 0x20 or ord(c) == 0x7f else c for c in str(text))


def emit(kind, message=None):
    line = kind if message is None else "%s: %s" % (kind, clean(message))
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def note(message):
    sys.stderr.write("%s: %s\n" % (PROG, message))
    sys.stderr.flush()


def internal(message):
    emit("internal", message)
    sys.exit(2)


# gtk-vnc 1.3's signals carry the offered types and the wanted credentials
# as a GValueArray of enum values. PyGObject cannot read it: get_nth() turns
# each GValue into a Python enum, and for VncConnectionAuth that fails
# ("invalid enum value": the typelib and the GType disagree about MSLOGON,
# 0xfffffffa). So the values are read with GLib itself.
_gobject = ctypes.CDLL("libgobject-2.0.so.0")
_gobject.g_value_array_get_nth.restype = ctypes.c_void_p
_gobject.g_value_array_get_nth.argtypes = [ctypes.c_void_p, ctypes.c_uint]
_gobject.g_value_get_enum.restype = ctypes.c_int
_gobject.g_value_get_enum.argtypes = [ctypes.c_void_p]


def array_values(array):
    """The numbers in a GValueArray of enum values."""
    # PyGObject hashes a boxed value by its C pointer, which its repr shows.
    pointer = hash(array)
    if "(GValueArray at 0x%x)" % pointer not in repr(array):
        raise RuntimeError("cannot find the GValueArray behind %r" % array)
    return [_gobject.g_value_get_enum(_gobject.g_value_array_get_nth(pointer, i)) & 0xffffffff
            for i in range(array.n_values)]


def handler(method):
    """PyGObject prints and ignores an exception in a signal handler; here it
    ends the run at once instead of leaving it to the timeout."""
    def run(*args):
        try:
            return method(*args)
        except Exception:
            traceback.print_exc()
            emit("internal", "exception in %s" % method.__name__)
            os._exit(2)
    run.__name__ = method.__name__
    return run


def subtype_name(number):
    return SUBTYPE_NAMES.get(number, str(number))


def parse_args():
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Read one framebuffer through gtk-vnc and write it as a binary PPM.")
    p.add_argument("--host", required=True, help="server host name or address (checked "
                   "against the server certificate)")
    p.add_argument("--port", required=True, type=int, help="TCP port")
    p.add_argument("--ca", help="CA certificate file (PEM)")
    p.add_argument("--cert", help="client certificate file (PEM); needs --key")
    p.add_argument("--key", help="client private key file (PEM); needs --cert")
    p.add_argument("--crl", help="CRL file (PEM)")
    p.add_argument("--client-name", help="answer gtk-vnc's client name with NAME; the "
                   "caller provides ~/.pki (not with --ca/--cert/--key/--crl)")
    p.add_argument("--user", help="user name for the Plain subtypes")
    p.add_argument("--password", help="password for the Plain subtypes")
    p.add_argument("--subtype", help="VeNCrypt subtype to choose (name such as "
                   "X509None or number); default: gtk-vnc's order")
    p.add_argument("--out", required=True, help="PPM file to write")
    p.add_argument("--timeout", type=int, default=20, help="bound on the whole run, "
                   "seconds (default 20)")
    p.add_argument("--nss-wrapper", help="path of libnss_wrapper.so")
    p.add_argument("--debug", action="store_true", help="gtk-vnc debug log on stderr")
    args = p.parse_args()

    if not 0 < args.port < 65536:
        p.error("--port must be 1..65535")
    if not 0 < args.timeout <= 86400:
        p.error("--timeout must be 1..86400")
    if (args.cert is None) != (args.key is None):
        p.error("--cert and --key go together")
    args.files = any(f is not None for f in (args.ca, args.cert, args.key, args.crl))
    if args.files and args.client_name is not None:
        p.error("--client-name is for a home the caller provides; "
                "not with --ca/--cert/--key/--crl")
    if args.subtype is not None:
        if args.subtype in SUBTYPES:
            args.subtype = SUBTYPES[args.subtype]
        else:
            try:
                args.subtype = int(args.subtype, 0)
            except ValueError:
                p.error("--subtype: one of %s or a number" % ", ".join(SUBTYPES))
    return args


# ---- certificate files through nss_wrapper -------------------------------------

def find_nss_wrapper(args):
    candidates = []
    if args.nss_wrapper:
        candidates.append(args.nss_wrapper)
    elif os.environ.get("NSS_WRAPPER_LIB"):
        candidates.append(os.environ["NSS_WRAPPER_LIB"])
    else:
        for pattern in ("/usr/lib/*/libnss_wrapper.so", "/usr/lib64/libnss_wrapper.so",
                        "/usr/lib/libnss_wrapper.so", "/usr/local/lib/libnss_wrapper.so"):
            candidates.extend(sorted(glob.glob(pattern)))
    for path in candidates:
        if os.path.isfile(path):
            return path
    internal("libnss_wrapper.so not found (libnss-wrapper; or give --nss-wrapper PATH)")


def build_home(args, home):
    """home/.pki laid out as gtk-vnc looks for it; the passwd file for it."""
    pki = os.path.join(home, ".pki")
    files = [(args.ca, "CA/cacert.pem"), (args.crl, "CA/cacrl.pem"),
             (args.cert, DEFAULT_CLIENT_NAME + "/clientcert.pem"),
             (args.key, DEFAULT_CLIENT_NAME + "/private/clientkey.pem")]
    for src, rel in files:
        # gtk-vnc prefers /etc/pki: a file there would silently win.
        if src is not None and os.path.exists(os.path.join(SYSTEM_PKI, rel)):
            internal("%s exists and gtk-vnc would use it instead of %s"
                     % (os.path.join(SYSTEM_PKI, rel), src))
    for src, rel in files:
        if src is None:
            continue
        dst = os.path.join(pki, rel)
        os.makedirs(os.path.dirname(dst), mode=0o700, exist_ok=True)
        try:
            shutil.copyfile(src, dst)
        except OSError as e:
            internal("%s: %s" % (src, e.strerror))
        os.chmod(dst, 0o600)
    entry = pwd.getpwuid(os.getuid())
    passwd = os.path.join(home, "passwd")
    with open(passwd, "w") as f:
        f.write("%s:x:%d:%d:%s:%s:%s\n" % (entry.pw_name, entry.pw_uid, entry.pw_gid,
                                           entry.pw_gecos, home, entry.pw_shell))
    return passwd


def run_with_home(args):
    """Run this program again under nss_wrapper with a home holding the files."""
    lib = find_nss_wrapper(args)
    home = tempfile.mkdtemp(prefix=PROG + ".")
    try:
        passwd = build_home(args, home)
        env = dict(os.environ)
        preload = env.get("LD_PRELOAD")
        env["LD_PRELOAD"] = lib + (" " + preload if preload else "")
        env["NSS_WRAPPER_PASSWD"] = passwd
        env["NSS_WRAPPER_GROUP"] = "/etc/group"
        env[HOME_ENV] = home
        sys.stdout.flush()
        sys.stderr.flush()
        cmd = [sys.executable, os.path.abspath(__file__)] + sys.argv[1:]
        try:
            rc = subprocess.run(cmd, env=env, timeout=args.timeout + 5).returncode
        except subprocess.TimeoutExpired:
            emit("timeout", "no result within %d s" % args.timeout)
            rc = 2
    finally:
        shutil.rmtree(home, ignore_errors=True)
    if rc < 0:
        emit("internal", "killed by signal %d" % -rc)
        rc = 2
    return rc


# ---- the client ------------------------------------------------------------------

def make_capsule(address):
    """A PyCapsule around a C pointer: how PyGObject takes a gpointer property."""
    new = ctypes.pythonapi.PyCapsule_New
    new.restype = ctypes.py_object
    new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
    return new(address, None, None)


class Client:
    def __init__(self, args, client_name):
        self.args = args
        self.client_name = client_name
        self.loop = GLib.MainLoop()
        self.status = None        # the exit status once decided
        self.failed = False       # an error or auth failure was reported
        self.reported = set()
        self.buffers = []         # every framebuffer's memory, alive to the end
        self.fb_memory = None
        self.width = self.height = 0
        self.covered = None       # one flag per pixel
        self.missing = 0

        # local format: 32 bpp true colour, 8 bits each, native byte order
        self.local = GVnc.PixelFormat()
        self.local.bits_per_pixel = 32
        self.local.depth = 24
        self.local.byte_order = 1234 if sys.byteorder == "little" else 4321
        self.local.true_color_flag = 1
        self.local.red_max = self.local.green_max = self.local.blue_max = 255
        self.local.red_shift, self.local.green_shift, self.local.blue_shift = 16, 8, 0
        # byte offsets of R, G, B within a pixel
        self.rgb_offsets = (2, 1, 0) if sys.byteorder == "little" else (1, 2, 3)

        c = self.conn = GVnc.Connection.new()
        c.connect("vnc-auth-choose-type", self.on_choose_type)
        c.connect("vnc-auth-choose-subtype", self.on_choose_subtype)
        c.connect("vnc-auth-credential", self.on_credential)
        c.connect("vnc-auth-failure", self.on_auth_failure)
        c.connect("vnc-auth-unsupported", self.on_auth_unsupported)
        c.connect("vnc-error", self.on_error)
        c.connect("vnc-initialized", self.on_initialized)
        c.connect("vnc-desktop-resize", self.on_resize)
        c.connect("vnc-framebuffer-update", self.on_update)
        c.connect("vnc-disconnected", self.on_disconnected)

    # -- outcome --

    def report(self, kind, message):
        key = (kind, message)
        if key not in self.reported:
            self.reported.add(key)
            emit(kind, message)
        if kind in ("error", "auth-failure"):
            self.failed = True

    def finish(self, status):
        """Close the connection; the loop ends on vnc-disconnected, or soon."""
        if self.status is None:
            self.status = status
        self.conn.shutdown()
        GLib.timeout_add(2000, self.loop.quit)

    def refuse(self, message):
        self.report("error", message)
        self.finish(1)

    # -- authentication --

    @staticmethod
    def choose(preferred, offered):
        for t in preferred:
            if t in offered:
                return t
        return offered[0]

    @handler
    def on_choose_type(self, conn, types):
        offered = array_values(types)
        if not offered:
            return
        chosen = self.choose(PREFERRED_TYPES, offered)
        note("security types %s, chose %d" % (offered, chosen))
        conn.set_auth_type(chosen)

    @handler
    def on_choose_subtype(self, conn, auth_type, subtypes):
        offered = array_values(subtypes)
        if not offered:
            return
        if auth_type != AUTH_VENCRYPT:
            chosen = self.choose(PREFERRED_TYPES, offered)
            note("type %d subtypes %s, chose %d" % (auth_type, offered, chosen))
            conn.set_auth_subtype(chosen)
            return
        names = ", ".join(subtype_name(t) for t in offered)
        if self.args.subtype is not None:
            if self.args.subtype not in offered:
                self.refuse("the server does not offer %s (it offers %s)"
                            % (subtype_name(self.args.subtype), names))
                return
            chosen = self.args.subtype
        else:
            chosen = self.choose(PREFERRED_SUBTYPES, offered)
        note("VeNCrypt subtypes %s, chose %s" % (names, subtype_name(chosen)))
        emit("subtype %s" % subtype_name(chosen))
        conn.set_auth_subtype(chosen)

    @handler
    def on_credential(self, conn, creds):
        answers = []
        for cred in array_values(creds):
            if cred == CRED_USERNAME:
                value, option = self.args.user, "--user"
            elif cred == CRED_PASSWORD:
                value, option = self.args.password, "--password"
            elif cred == CRED_CLIENTNAME:
                value, option = self.client_name, None
            else:
                self.refuse("gtk-vnc asks for credential %d, which is not supported" % cred)
                return
            if value is None:
                self.refuse("the server wants a %s and no %s was given"
                            % ("user name" if cred == CRED_USERNAME else "password", option))
                return
            answers.append((cred, value))
        for cred, value in answers:
            if not conn.set_credential(cred, value):
                self.refuse("gtk-vnc did not take credential %d" % cred)
                return

    @handler
    def on_auth_failure(self, conn, reason):
        self.report("auth-failure", reason)

    @handler
    def on_auth_unsupported(self, conn, auth_type):
        self.report("error", "auth type %d is not supported by gtk-vnc" % auth_type)

    @handler
    def on_error(self, conn, message):
        self.report("error", message)

    # -- framebuffer --

    def new_framebuffer(self, width, height):
        rowstride = width * 4
        memory = ctypes.create_string_buffer(max(rowstride * height, 4))
        self.buffers.append(memory)
        fb = GObject.new(GVnc.BaseFramebuffer, buffer=make_capsule(ctypes.addressof(memory)),
                         width=width, height=height, rowstride=rowstride,
                         local_format=self.local,
                         remote_format=self.conn.get_pixel_format())
        self.conn.set_framebuffer(fb)
        self.fb_memory = memory
        self.width, self.height = width, height
        self.covered = bytearray(width * height)
        self.missing = width * height

    def request_full_update(self):
        if not self.conn.framebuffer_update_request(False, 0, 0, self.width, self.height):
            self.refuse("the framebuffer update request failed")

    @handler
    def on_initialized(self, conn):
        self.new_framebuffer(conn.get_width(), conn.get_height())
        if not conn.set_encodings([int(GVnc.ConnectionEncoding.RAW)]):
            self.refuse("setting the encodings failed")
            return
        self.request_full_update()

    @handler
    def on_resize(self, conn, width, height):
        self.new_framebuffer(width, height)
        self.request_full_update()

    @handler
    def on_update(self, conn, x, y, w, h):
        if self.status is not None or self.covered is None:
            return
        x0, y0 = max(x, 0), max(y, 0)
        x1, y1 = min(x + w, self.width), min(y + h, self.height)
        if x0 >= x1 or y0 >= y1:
            return
        for row in range(y0, y1):
            start = row * self.width
            span = self.covered[start + x0:start + x1]
            self.missing -= span.count(0)
            self.covered[start + x0:start + x1] = b"\x01" * (x1 - x0)
        if self.missing == 0:
            self.write_ppm()

    def write_ppm(self):
        w, h = self.width, self.height
        raw = ctypes.string_at(ctypes.addressof(self.fb_memory), w * h * 4)
        rgb = bytearray(w * h * 3)
        for i, offset in enumerate(self.rgb_offsets):
            rgb[i::3] = raw[offset::4]
        path = self.args.out
        tmp = path + ".tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(b"P6\n%d %d\n255\n" % (w, h))
                f.write(rgb)
            os.replace(tmp, path)
        except OSError as e:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            emit("internal", "%s: %s" % (e.filename or path, e.strerror))
            self.finish(2)
            return
        emit("ok %dx%d" % (w, h))
        self.finish(0)

    @handler
    def on_disconnected(self, conn):
        if self.status is None:
            if not self.failed:
                self.report("error", "disconnected before a complete framebuffer")
            self.status = 1
        self.loop.quit()

    # -- run --

    @handler
    def on_timeout(self):
        emit("timeout", "no complete framebuffer within %d s" % self.args.timeout)
        os._exit(2)

    def run(self):
        GLib.timeout_add_seconds(self.args.timeout, self.on_timeout)
        if not self.conn.open_host(self.args.host, str(self.args.port)):
            internal("gtk-vnc did not open the connection")
        self.loop.run()
        return 1 if self.status is None else self.status


def backstop(seconds):
    """Whatever happens in the main loop, the run ends."""
    def expire():
        os.write(1, b"timeout: the main loop did not end in time\n")
        os._exit(2)
    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    # and if even that thread cannot run, SIGALRM's default action ends it
    signal.alarm(seconds + 3)


def main():
    args = parse_args()
    home = os.environ.get(HOME_ENV)
    if args.files and home is None:
        return run_with_home(args)
    if args.files:
        if pwd.getpwuid(os.getuid()).pw_dir != home:
            internal("nss_wrapper is not in effect (the passwd entry's home is not %s)"
                     % home)
        client_name = DEFAULT_CLIENT_NAME
    else:
        client_name = args.client_name or DEFAULT_CLIENT_NAME

    backstop(args.timeout + 2)
    if args.debug:
        GVnc.util_set_debug(True)
    status = Client(args, client_name).run()
    sys.stdout.flush()
    sys.stderr.flush()
    # Leave without tearing GObjects down at interpreter exit.
    os._exit(status)


if __name__ == "__main__":
    sys.exit(main())
