import CashierCore
import Foundation

/// Writes one JSON line per request. Fields are chosen so no secret (key, PIN, payment code) can appear.
public final class RequestLog: @unchecked Sendable {
    // @unchecked: writes are serialized by `lock`; the file handle is only used under it.
    private let lock = NSLock()
    private let handle: FileHandle?

    /// False when logging is off, so callers can skip building entries.
    public var isEnabled: Bool { handle != nil }

    /// Logs to `path`, or to standard error when nil; `enabled: false` drops everything.
    public init(path: String?, enabled: Bool = true) {
        guard enabled else { handle = nil; return }
        if let path {
            // O_APPEND: every line lands at the end of the file even when several instances sharing a data
            // directory write to it (seeking to the end once at start let them overwrite each other's lines).
            let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
            handle = fd >= 0 ? FileHandle(fileDescriptor: fd, closeOnDealloc: true) : nil
        } else {
            handle = FileHandle.standardError
        }
    }

    public struct Entry: WireEncodable {
        var ts: String
        var instance: String
        var method: String
        var path: String
        var status: Int
        var code: String?
        var ms: Double
        var device: String?
        var remote: String
        var group: Int?
        var hops: Int?

        /// One line, keys sorted (Foundation's encoder took a measurable share of a request's CPU).
        public func write(to w: inout JSONWriter) {
            w.beginObject()
            w.field("code", code)
            w.field("device", device)
            w.field("group", group)
            w.field("hops", hops)
            w.field("instance", instance)
            w.field("method", method)
            w.field("ms", ms)
            w.field("path", path)
            w.field("remote", remote)
            w.field("status", status)
            w.field("ts", ts)
            w.endObject()
        }
    }

    func write(_ entry: Entry) {
        guard let handle else { return }
        var line = entry.wireBytes()
        line.append(0x0a)
        lock.lock()
        defer { lock.unlock() }
        handle.write(Data(line))
    }

    /// `YYYY-MM-DDThh:mm:ss.mmmZ`, formatted by hand: a date formatter per request cost more than the
    /// rest of a health check (see docs/PERFORMANCE.md).
    static func timestamp(ms: Int64) -> String {
        let seconds = ms >= 0 ? ms / 1000 : (ms - 999) / 1000
        let t = CivilTime(epochSeconds: seconds)
        return "\(pad(t.year, 4))-\(pad(t.month, 2))-\(pad(t.day, 2))T\(pad(t.hour, 2)):\(pad(t.minute, 2)):\(pad(t.second, 2)).\(pad(Int(ms - seconds * 1000), 3))Z"
    }
}
