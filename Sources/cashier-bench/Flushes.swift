import Foundation

/// Flushes (fsync and fdatasync system calls) counted while some work runs, by who made them and on
/// which file.
///
/// Counted with strace attached to the server's processes and all their threads (`-f`), printing every
/// call with the file behind its descriptor (`-y`): these are the flushes the kernel was really asked
/// for, whatever SQLite's or PostgreSQL's settings say. Each call is put down to the thread that made it
/// (cashierd names its threads: `http-worker` runs requests, `sqlite-checkpoint` copies logs back in the
/// background) or, for PostgreSQL, to the process (a backend serving a connection, or the WAL writer,
/// checkpointer…), and to the file's kind.
struct FlushCount {
    /// (who, file) → calls.
    var calls: [String: [String: Int]] = [:]

    func total(of who: String) -> Int { calls[who]?.values.reduce(0, +) ?? 0 }

    /// The calls of `who` that flushed a restarted log's header (see `countFlushes`).
    func headers(of who: String) -> Int { calls[who]?.filter { $0.key.hasSuffix("(log header)") }.values.reduce(0, +) ?? 0 }

    /// "group log 1.00, base 0.01" for `who`, each divided by `operations`.
    func breakdown(of who: String, per operations: Int) -> String {
        guard let files = calls[who], !files.isEmpty else { return "none" }
        return files.sorted { $0.value > $1.value }
            .map { "\($0.key) \(fmt(Double($0.value) / Double(max(operations, 1))))" }.joined(separator: ", ")
    }

    /// Everyone else than `who`, as "sqlite-checkpoint: group file 0.20, group log 0.20; …", per operation.
    func others(than who: String, per operations: Int) -> String {
        let rest = calls.keys.filter { $0 != who }.sorted()
        guard !rest.isEmpty else { return "none" }
        return rest.map { "\($0): \(breakdown(of: $0, per: operations))" }.joined(separator: "; ")
    }
}

/// Runs `body` with strace counting the flushes of `pids` (their threads, and children they start);
/// `body` returns how many operations it did. `who(pid, tid)` names the thread or process that made a
/// call, `file(path)` names the file's kind.
///
/// With `logHeaders`, 32-byte writes at offset 0 are traced too: SQLite writes a new header when a
/// write-ahead log starts over after a checkpoint and flushes it before the commit's own flush, so such
/// a flush is counted apart, as "(log header)".
func countFlushes(pids: [Int32], who: (Int32) -> String, file: (String) -> String, logHeaders: Bool = false,
                  scratch: String, _ body: () -> Int) throws -> (FlushCount, operations: Int) {
    guard FileManager.default.isExecutableFile(atPath: "/usr/bin/strace") else { throw BenchError("strace is not installed") }
    let out = scratch + "/strace-flushes.txt"
    try? FileManager.default.removeItem(atPath: out)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/strace")
    p.arguments = ["-f", "-y", "-qq", "-e", logHeaders ? "trace=fsync,fdatasync,pwrite64" : "trace=fsync,fdatasync", "-o", out] + pids.flatMap { ["-p", String($0)] }
    p.standardError = FileHandle.nullDevice
    p.standardOutput = FileHandle.nullDevice
    try p.run()
    usleep(700_000)   // strace attaches to every thread first
    let operations = body()
    usleep(300_000)
    kill(p.processIdentifier, SIGINT)   // strace detaches and writes out what it has
    p.waitUntilExit()
    // Who made each call is read while the threads still exist (the service keeps running).
    let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
    var count = FlushCount()
    var names: [Int32: String] = [:]
    /// The file each thread last wrote a log header to, until its next call.
    var headerWritten: [Int32: String] = [:]
    for line in text.split(separator: "\n") {
        // "1234 fdatasync(12</path/file>) = 0", or "… <unfinished ...>" (its "resumed" line is not counted again).
        let cols = line.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard cols.count == 2, let tid = Int32(cols[0]) else { continue }
        let call = cols[1].drop { $0 == " " }
        guard let open = call.firstIndex(of: "<"), let close = call[open...].firstIndex(of: ">") else { continue }
        let path = String(call[call.index(after: open)..<close])
        if call.hasPrefix("pwrite64(") {
            if call.hasSuffix(", 32, 0) = 32") { headerWritten[tid] = path } else { headerWritten[tid] = nil }
            continue
        }
        guard call.hasPrefix("fsync(") || call.hasPrefix("fdatasync(") else { continue }
        let name = names[tid] ?? who(tid)
        names[tid] = name
        let header = headerWritten.removeValue(forKey: tid) == path
        count.calls[name, default: [:]][file(path) + (header ? " (log header)" : ""), default: 0] += 1
    }
    return (count, operations)
}

/// The name a thread of `pid` gave itself (/proc/PID/task/TID/comm), "ended" when it is gone.
func threadName(pid: Int32, tid: Int32) -> String {
    let name = (try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/comm", encoding: .utf8))?
        .trimmingCharacters(in: .whitespacesAndNewlines)
    guard let name, !name.isEmpty else { return "ended thread" }
    // Linux keeps 15 characters of a thread's name.
    if name.hasPrefix("sqlite-checkpoi") { return "sqlite-checkpoint" }
    if name.hasPrefix("http-worker") { return "http-worker" }
    // cashierd names its request threads only; the others (background checkpoints, the sweep,
    // housekeeping) keep the program's name.
    return name == "cashierd" ? "other threads" : name
}

/// What kind of cashierd file a path is.
func cashierdFileKind(_ path: String) -> String {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue { return "data directory" }
    let name = (path as NSString).lastPathComponent
    let log = name.hasSuffix("-wal") ? " log" : name.hasSuffix("-journal") ? " journal" : " file"
    if name.hasPrefix("group-") { return "group" + log }
    if name.hasPrefix("base.") { return "base" + log }
    if name.hasPrefix("channel.") { return "sandbox ledger" + log }
    return name
}
