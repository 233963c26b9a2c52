/// One address to listen on; `port` 0 asks for an ephemeral port.
public struct ListenAddress: Sendable, Equatable {
    /// An IPv4 or IPv6 literal such as "127.0.0.1", "0.0.0.0" or "::1".
    public var host: String
    public var port: UInt16
    public var tls: Bool

    public init(host: String, port: UInt16, tls: Bool) {
        self.host = host
        self.port = port
        self.tls = tls
    }

    /// "127.0.0.1:8443" or "[::1]:8443".
    public var displayName: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// The server's certificate chain and private key, both PEM.
public struct TLSMaterial: Sendable {
    public var certificatePEM: String
    public var privateKeyPEM: String

    public init(certificatePEM: String, privateKeyPEM: String) {
        self.certificatePEM = certificatePEM
        self.privateKeyPEM = privateKeyPEM
    }
}

public struct HTTPServerConfiguration: Sendable {
    public var listen: [ListenAddress]
    /// Required when any listen address has `tls` set.
    public var tls: TLSMaterial?
    /// Larger bodies are read and discarded, and the request is flagged `bodyTooLarge`.
    public var maxBodyBytes: Int = 64 * 1024
    /// Idle connections are closed after this long (slowloris defence); 0 disables the timeout.
    public var connectionTimeoutSeconds: Int = 15
    public var connectionLimit: Int = 1000
    /// 0 means no per-IP limit.
    public var perIPConnectionLimit: Int = 0
    /// How long `stop()` waits for in-flight responses to be delivered before closing connections anyway.
    /// (Handler calls themselves are always waited for: libmicrohttpd joins its connection threads.)
    public var stopTimeoutSeconds: Int = 30

    public init(listen: [ListenAddress], tls: TLSMaterial? = nil) {
        self.listen = listen
        self.tls = tls
    }
}

/// Why the server could not start, in words a person can act on.
public struct HTTPServerError: Error, CustomStringConvertible, Sendable {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
