import CashierCore
import Foundation

/// The device's credentials in a JSON file readable by its owner only: its private key (or, for a terminal
/// activated before key pairs, its shared secret) never leaves it. Every write replaces the whole file at
/// once (a new file, fsynced, renamed over the old), so a crash leaves either the old keys or the new.
public struct Keystore: Sendable {
    public let path: String
    public init(path: String) { self.path = path }

    /// Reads the credentials; nil when the terminal has not been activated. Refuses a file other users can read.
    public func load() throws(APIError) -> DeviceCredentials? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        var info = stat()
        guard stat(path, &info) == 0 else { throw APIError(.keystoreInsecure, detail: "cannot inspect \(path)") }
        let mode = info.st_mode & 0o777
        if mode & 0o077 != 0 {
            throw APIError(.keystoreInsecure, detail: "\(path) has mode \(String(mode, radix: 8)), so other users can read the device key; "
                           + "run `chmod 600 \(path)` (and consider re-activating this terminal)")
        }
        let credentials: DeviceCredentials
        do {
            credentials = try API.decode(DeviceCredentials.self, from: Array(Data(contentsOf: URL(fileURLWithPath: path))))
        } catch {
            throw APIError(.configInvalid, detail: "the keystore \(path) is not valid: \(error)")
        }
        // An Ed25519 private key and the service's public key, or (from before key pairs) a shared secret.
        guard credentials.signingKey != nil, credentials.answerKey != nil else {
            throw APIError(.configInvalid, detail: "the keystore \(path) holds no usable key; activate this terminal again")
        }
        return credentials
    }

    /// Writes the credentials with mode 0600 (created that way, so the key is never readable by others).
    public func save(_ credentials: DeviceCredentials) throws(APIError) {
        let dir = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true,
                                                 attributes: [.posixPermissions: 0o700])
        let temp = path + ".tmp"
        unlink(temp)
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw APIError(.keystoreInsecure, detail: "cannot create \(temp): \(String(cString: strerror(errno)))") }
        let bytes = API.encode(credentials)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == bytes.count, synced, rename(temp, path) == 0 else {
            unlink(temp)
            throw APIError(.keystoreInsecure, detail: "cannot write \(path)")
        }
        // The rename itself on disk too: a key rotation sends its request only once its new key is there.
        let directory = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY)
        if directory >= 0 {
            fsync(directory)
            close(directory)
        }
    }
}

/// Appends lines to the log file; never writes to the terminal. Thread-safe.
public final class ClientLog: @unchecked Sendable {
    // @unchecked: the file handle is only used while `lock` is held.
    private let lock = NSLock()
    private let handle: FileHandle?

    public init(path: String) {
        let dir = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // O_APPEND: the front end and a command run beside it both write here; each line lands at the end.
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        handle = fd >= 0 ? FileHandle(fileDescriptor: fd, closeOnDealloc: true) : nil
    }

    public func write(_ message: String) {
        let line = "\(ISO8601DateFormatter().string(from: Date())) \(message)\n"
        lock.lock()
        handle?.write(Data(line.utf8))
        lock.unlock()
    }

    deinit { try? handle?.close() }
}
