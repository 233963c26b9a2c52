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
    /// Descriptors kept out of the connection budget for everything else the process opens (databases,
    /// logs, pipes, the listen sockets).
    public static let reservedFileDescriptors = 512

    public var listen: [ListenAddress]
    /// Required when any listen address has `tls` set.
    public var tls: TLSMaterial?
    /// Larger bodies are read and discarded, and the request is flagged `bodyTooLarge`.
    public var maxBodyBytes: Int = 64 * 1024
    /// Idle connections are closed after this long (slowloris defence); 0 disables the timeout. A request
    /// whose handler is running is not idle.
    public var connectionTimeoutSeconds: Int = 15
    /// Connections one listen address keeps open at most. Bounded by the open-file limit: all listen
    /// addresses together keep at most the soft RLIMIT_NOFILE (raised to the hard limit at start) less
    /// `reservedFileDescriptors`, and each always has room for its share of that, so a flood on one address
    /// cannot stop the others.
    public var connectionLimit: Int = 20_000
    /// 0 means no per-IP limit.
    public var perIPConnectionLimit: Int = 0
    /// Connections all listen addresses together keep open at most; nil: the open-file limit less
    /// `reservedFileDescriptors`. Never more than that.
    public var connectionBudget: Int? = nil
    /// Threads that run handlers, shared by all listen addresses and started as needed. Handlers may block
    /// (databases, the payment channel); event threads never run them. Keep it above the service's bound
    /// on requests in flight, so a request that is refused for load is refused at once, not queued behind
    /// admitted ones.
    public var workerThreads: Int = 128
    /// libmicrohttpd epoll threads per listen address: they read requests, run TLS and write answers.
    public var eventThreadsPerListener: Int = 1
    /// How long `stop()` waits for in-flight responses to be delivered before closing connections anyway.
    /// Handler calls under way are always waited for; requests no worker has taken by then are answered
    /// 503 `OVERLOADED` without being handled.
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
