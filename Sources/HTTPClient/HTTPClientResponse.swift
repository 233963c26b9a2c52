/// An HTTP answer, whatever its status.
public struct HTTPClientResponse: Equatable, Sendable {
    public var status: Int
    /// Header names lower-cased; repeated headers joined with ", ".
    public var headers: [String: String]
    public var body: [UInt8]
    /// Wall time of the whole request, seconds.
    public var totalTime: Double
    /// Connections newly opened for this request; 0 when a kept-alive connection was reused.
    public var newConnections: Int

    public init(status: Int, headers: [String: String], body: [UInt8], totalTime: Double, newConnections: Int) {
        self.status = status; self.headers = headers; self.body = body
        self.totalTime = totalTime; self.newConnections = newConnections
    }
}

/// How a `CurlConnection` reaches and trusts the service.
public struct HTTPClientConfiguration: Equatable, Sendable {
    /// PEM file of the only CA trusted; the system store is never used (unless `usesSystemTrustStore`).
    public var caFile: String
    /// Optional public-key pin, `sha256//<base64>` (several joined with `;`).
    public var pinnedPublicKey: String?
    public var connectTimeoutMs: Int
    public var totalTimeoutMs: Int
    /// CURLOPT_RESOLVE entries, `host:port:address`, e.g. to map test names to 127.0.0.1.
    public var resolve: [String]
    /// Trust the system's CA store (libcurl's built-in CA bundle and path) instead of `caFile`, which is
    /// then ignored: for a public provider's endpoints, whose certificates chain to public CAs.
    public var usesSystemTrustStore: Bool

    public init(caFile: String, pinnedPublicKey: String? = nil, connectTimeoutMs: Int = 3_000,
                totalTimeoutMs: Int = 10_000, resolve: [String] = [], usesSystemTrustStore: Bool = false) {
        self.caFile = caFile; self.pinnedPublicKey = pinnedPublicKey; self.connectTimeoutMs = connectTimeoutMs
        self.totalTimeoutMs = totalTimeoutMs; self.resolve = resolve; self.usesSystemTrustStore = usesSystemTrustStore
    }
}
