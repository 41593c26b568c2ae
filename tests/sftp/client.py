"""paramiko scenarios for tests/sftp.rs. Usage: client.py SCENARIO PORT USER PASSWORD [ARGS...]

Each scenario prints what it observed, one fact per line, and exits 0; the Rust test asserts on
those lines and on the files in the home. An unexpected exception exits non-zero.
"""
import os
import stat
import sys
import time

import paramiko


def connect(port, user, password, keepalive=0):
    transport = paramiko.Transport(("127.0.0.1", port))
    transport.connect(username=user, password=password)
    if keepalive:
        transport.set_keepalive(keepalive)
    return transport, paramiko.SFTPClient.from_transport(transport)


def error_of(call):
    """Runs call; returns 'ok' or the exception's class and message."""
    try:
        call()
        return "ok"
    except (IOError, OSError) as e:
        return "%s %s" % (type(e).__name__, e)


def big(transport, sftp, local, remote, fetched):
    """A 50 MB pipelined put, then a prefetching get (the pattern that deadlocks a one-request-
    at-a-time server), byte-identical."""
    sftp.put(local, remote)
    print("put", sftp.stat(remote).st_size)
    sftp.get(remote, fetched)
    print("get", os.path.getsize(fetched))


def operations(transport, sftp, home):
    """Every SFTP operation paramiko has, with the home's real folder to look behind the scenes.
    It works in `sub/`, away from the inbox (whose files the inbox processor takes away), and
    renames one file into the inbox at the end."""
    print("normalize", sftp.normalize("."), sftp.normalize("/out/../x/./y"))
    sftp.mkdir("sub", 0o7777)
    print("dir-mode", oct(stat.S_IMODE(os.stat(os.path.join(home, "sub")).st_mode)))
    real = os.path.join(home, "sub", "ops.csv")
    with sftp.open("sub/ops.csv", "w") as f:
        f.write(b"a;b\n")
        print("fstat", f.stat().st_size)
        print("visible-before-close", os.path.exists(real))
    print("visible-after-close", os.path.exists(real))
    print("stat", sftp.stat("sub/ops.csv").st_size, stat.S_ISREG(sftp.stat("/sub/ops.csv").st_mode))
    print("lstat", sftp.lstat("sub/ops.csv").st_size)
    # Append and resume keep the old content, atomically: the file stays whole until close.
    with sftp.open("sub/ops.csv", "a") as f:
        f.write(b"1;2\n")
        f.flush()
        print("during-append", open(real, "rb").read())
    with sftp.open("sub/ops.csv", "r+") as f:
        f.seek(0)
        f.write(b"A")
    print("after-resume", sftp.open("sub/ops.csv").read())
    sftp.chmod("sub/ops.csv", 0o4777)
    print("mode", oct(stat.S_IMODE(os.stat(real).st_mode)))
    sftp.utime("sub/ops.csv", (1000000000, 1000000000))
    print("mtime", int(os.stat(real).st_mtime))
    print("truncate-path", error_of(lambda: sftp.truncate("sub/ops.csv", 1)))
    with sftp.open("sub/ops.csv", "r+") as f:
        f.truncate(2)
    print("truncate-handle", sftp.stat("sub/ops.csv").st_size)
    sftp.mkdir("sub/deeper")
    sftp.rename("sub/ops.csv", "sub/deeper/ops.csv")
    print("listdir", sorted(sftp.listdir("sub/deeper")))
    print("listdir_attr", [(a.filename, a.st_size) for a in sftp.listdir_attr("/sub/deeper")])
    with sftp.open("sub/other.csv", "w") as f:
        f.write(b"other")
    print("rename-onto-existing", error_of(lambda: sftp.rename("sub/other.csv", "sub/deeper/ops.csv")))
    # posix-rename replaces its target on OpenSSH; ours never replaces, like every rename.
    print("posix-rename-onto-existing",
          error_of(lambda: sftp.posix_rename("sub/other.csv", "sub/deeper/ops.csv")))
    print("kept-after-posix-rename",
          sftp.open("sub/deeper/ops.csv").read(), sftp.open("sub/other.csv").read())
    sftp.posix_rename("sub/other.csv", "sub/deeper/other.csv")
    print("posix-rename", sftp.open("sub/deeper/other.csv").read())
    print("symlink", error_of(lambda: sftp.symlink("sub/deeper/ops.csv", "link.csv")))
    print("readlink-inside", sftp.readlink("inside-link"))
    print("remove-folder", error_of(lambda: sftp.remove("sub")))
    print("rmdir-root", error_of(lambda: sftp.rmdir("/")))
    print("rmdir-full", error_of(lambda: sftp.rmdir("sub")))
    with sftp.open("sub/gone.csv", "w") as f:
        f.write(b"x")
    sftp.remove("sub/gone.csv")
    print("remove-missing", error_of(lambda: sftp.remove("sub/gone.csv")))
    print("stat-missing", error_of(lambda: sftp.stat("nothing-here")))
    print("open-missing", error_of(lambda: sftp.open("nothing-here")))
    print("open-folder", error_of(lambda: sftp.open("out", "w")))
    print("mkdir-existing", error_of(lambda: sftp.mkdir("out")))
    print("rename-into-inbox", error_of(lambda: sftp.rename("sub/deeper/ops.csv", "moved.csv")))
    sftp.remove("sub/deeper/other.csv")
    sftp.rmdir("sub/deeper")
    sftp.rmdir("sub")
    print("final", sorted(n for n in sftp.listdir("/") if n != "moved.csv"))


def escapes(transport, sftp):
    """Paths that try to leave the home."""
    print("dotdot-list", sorted(sftp.listdir("../../..")))
    print("dotdot-get", error_of(lambda: sftp.stat("../../../etc/passwd")))
    print("absolute", error_of(lambda: sftp.open("/etc/passwd")))
    print("symlink-out-list", error_of(lambda: sftp.listdir("to-outside")))
    print("symlink-out-read", error_of(lambda: sftp.open("to-outside/secret.txt").read()))
    print("symlink-out-write", error_of(lambda: sftp.open("to-outside/new.txt", "w").close()))
    print("symlink-out-readlink", error_of(lambda: sftp.readlink("to-outside")))
    print("symlink-out-remove", error_of(lambda: sftp.remove("to-outside")))
    with sftp.open("../../out/escaped.csv", "w") as f:
        f.write(b"x")
    print("dotdot-put-lands-at", sorted(sftp.listdir("/out")))


def reserved(transport, sftp):
    """out/, done/ and error/ may be used but not removed, renamed or replaced."""
    with sftp.open("/out/fetch-me.csv", "w") as f:
        f.write(b"published")
    print("rmdir-out", error_of(lambda: sftp.rmdir("out")))
    print("rename-done", error_of(lambda: sftp.rename("done", "gone")))
    print("posix-rename-error", error_of(lambda: sftp.posix_rename("error", "gone")))
    sftp.mkdir("mine")
    print("rename-onto-out", error_of(lambda: sftp.rename("mine", "out")))
    print("posix-rename-onto-done", error_of(lambda: sftp.posix_rename("mine", "/done")))
    print("use-out", sftp.open("/out/fetch-me.csv").read())
    print("folders", sorted(sftp.listdir("/")))


def limit(transport, sftp):
    """An upload past the user's limit fails and leaves nothing behind."""
    f = sftp.open("big.csv", "w")
    f.set_pipelined(False)
    f.write(b"x" * 1000)
    f.flush()
    print("write-over-limit", error_of(lambda: (f.write(b"y" * 1000), f.flush())))
    # paramiko swallows errors of CLOSE; the listing shows the upload was discarded.
    f.close()
    print("listing", sorted(sftp.listdir("/")))


def slow_put(transport, sftp, remote, chunks, pause):
    """An upload that takes longer than the idle timeout but never stops moving."""
    with sftp.open(remote, "w") as f:
        for i in range(int(chunks)):
            f.write(b"%05d\n" % i)
            f.flush()
            time.sleep(float(pause))
    print("slow-put", sftp.stat(remote).st_size)


def idle(transport, sftp):
    """Does nothing but SSH keepalives; reports when the server closes the session."""
    sftp.listdir("/")
    started = time.time()
    while transport.is_active() and time.time() - started < 60:
        time.sleep(0.1)
    print("closed" if not transport.is_active() else "still-open")


def abort_put(transport, sftp):
    """Writes forever (until killed) after saying it started."""
    f = sftp.open("aborted.csv", "w")
    f.write(b"z" * 65536)
    f.flush()
    print("writing", flush=True)
    while True:
        f.write(b"z" * 65536)
        f.flush()
        time.sleep(0.05)


def second_session():
    """Another connection of the same user, as a client's connection pool opens."""
    return connect(int(sys.argv[2]), sys.argv[3], sys.argv[4])


def hidden(home):
    """What the home's top holds on disk besides its folders, hidden names included."""
    return sorted(n for n in os.listdir(home) if n not in ("done", "error", "out"))


def abandon(transport, sftp, home):
    """An upload given up without closing its handle, its name then deleted over another
    connection (what rclone does when its source fails mid-upload)."""
    f = sftp.open("z.txt", "w")
    f.set_pipelined(False)
    f.write(b"half of it")
    f.flush()
    print("on-disk", len(hidden(home)), all(n.startswith(".z.txt.") for n in hidden(home)))
    other_transport, other = second_session()
    print("listed-here", sorted(sftp.listdir("/")))
    print("listed-there", sorted(other.listdir("/")))
    print("stat", error_of(lambda: other.stat("z.txt")))
    print("remove", error_of(lambda: other.remove("z.txt")))
    print("on-disk-after", hidden(home))
    print("listed-after", sorted(other.listdir("/")))
    print("write-after", error_of(lambda: (f.write(b"more"), f.flush())))
    # paramiko swallows errors of CLOSE; what counts is that nothing took the name.
    f.close()
    print("after-close", error_of(lambda: sftp.stat("z.txt")), hidden(home))
    other_transport.close()


def statvfs(transport, sftp, folder):
    """statvfs@openssh.com, which paramiko has no call for: the raw extended request."""
    t, msg = sftp._request(paramiko.sftp.CMD_EXTENDED, "statvfs@openssh.com", folder)
    print("reply-type", t == paramiko.sftp.CMD_EXTENDED_REPLY)
    figures = [msg.get_int64() for _ in range(11)]
    print("figures", " ".join(str(n) for n in figures))
    print("missing", error_of(lambda: sftp._request(
        paramiko.sftp.CMD_EXTENDED, "statvfs@openssh.com", "/no/such/folder")))
    print("unknown-extension", error_of(lambda: sftp._request(
        paramiko.sftp.CMD_EXTENDED, "nothing@example.com", "/")))


def texts(transport, sftp):
    """The status texts, as paramiko shows them: OpenSSH's, then a reason where there is one."""
    print("no-such-file", error_of(lambda: sftp.remove("nothing-here")))
    print("denied-reason", error_of(lambda: sftp.rmdir("out")))
    print("failure-reason", error_of(lambda: sftp.mkdir("out")))
    print("unsupported", error_of(lambda: sftp._request(
        paramiko.sftp.CMD_EXTENDED, "nothing@example.com", "/")))


def truncate(transport, sftp):
    """Truncates by path (SETSTAT size), where the inbox allows it and where it doesn't."""
    print("inbox", error_of(lambda: sftp.truncate("waiting.csv", 3)))
    print("inbox-size", sftp.stat("waiting.csv").st_size)
    with sftp.open("out/report.csv", "w") as f:
        f.write(b"0123456789")
    print("out", error_of(lambda: sftp.truncate("out/report.csv", 4)), sftp.open("out/report.csv").read())
    sftp.mkdir("sub")
    with sftp.open("sub/notes.txt", "w") as f:
        f.write(b"0123456789")
    print("sub", error_of(lambda: sftp.truncate("sub/notes.txt", 0)), sftp.stat("sub/notes.txt").st_size)
    print("extend", error_of(lambda: sftp.truncate("sub/notes.txt", 3)), sftp.open("sub/notes.txt").read())
    with sftp.open("later.csv.tmp", "w") as f:
        f.write(b"id;x\n1;2\nhalf")
    print("temporary", error_of(lambda: sftp.truncate("later.csv.tmp", 9)))
    sftp.rename("later.csv.tmp", "later.csv")
    print("renamed", "ok")


def hold(transport, sftp):
    """Keeps a session open until standard input closes."""
    sftp.listdir("/")
    print("holding", flush=True)
    sys.stdin.read()


def main():
    scenario, port, user, password = sys.argv[1:5]
    args = sys.argv[5:]
    keepalive = 1 if scenario == "idle" else 0
    transport, sftp = connect(int(port), user, password, keepalive)
    globals()[scenario](transport, sftp, *args)
    if transport.is_active():
        sftp.close()
        transport.close()
    print("done")


if __name__ == "__main__":
    main()
