/// An HTTP request as the handler sees it: complete, with the body already read.
public struct HTTPRequest: Sendable {
    public var method: String
    /// The URL path percent-decoded, without the query string; what routing looks at.
    public var path: String
    /// The URL path exactly as the client sent it (not percent-decoded), without the query string; what a
    /// signature covers.
    public var rawPath: String
    /// Query arguments in arrival order; an argument without `=` has an empty value.
    public var query: [(String, String)]
    /// Header names lower-cased; repeated headers joined with ", ".
    public var headers: [String: String]
    public var body: [UInt8]
    /// True when the body exceeded `maxBodyBytes`; `body` then holds only its first bytes.
    public var bodyTooLarge: Bool
    /// The peer's IP address as text ("127.0.0.1", "::1").
    public var remoteAddress: String

    /// - Parameter rawPath: the path as sent; `path` when nil.
    public init(method: String, path: String, rawPath: String? = nil, query: [(String, String)] = [],
                headers: [String: String] = [:], body: [UInt8] = [], bodyTooLarge: Bool = false,
                remoteAddress: String = "") {
        self.method = method
        self.path = path
        self.rawPath = rawPath ?? path
        self.query = query
        self.headers = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { a, b in "\(a), \(b)" })
        self.body = body
        self.bodyTooLarge = bodyTooLarge
        self.remoteAddress = remoteAddress
    }

    /// The header's value, looked up case-insensitively.
    public func header(_ name: String) -> String? { headers[name.lowercased()] }

    /// The first query argument with this name.
    public func queryValue(_ name: String) -> String? { query.first { $0.0 == name }?.1 }
}

/// What the handler answers; libmicrohttpd adds Content-Length, Date and connection headers itself.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}
