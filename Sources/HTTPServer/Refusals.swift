/// The answers the HTTP layer gives by itself, before any handler runs: framing it will not guess at,
/// sizes beyond its buffers, versions it does not speak. Each is sent as the service's JSON error body,
/// `{"error":{"code","detail","message","retryable"}}`, with `Content-Type: application/json`, and closes
/// the connection. The codes and messages are those of the service's catalogue (`ErrorCode` in
/// CashierCore, docs/ERRORS.md), which this module does not depend on; a test checks they agree.
public enum HTTPRefusal: Int, CaseIterable, Sendable {
    // The order is the C shim's `cashier_http_refusal_kind`.
    /// Bad request line or header syntax, ambiguous length (RFC 9112 §6.3), a coding other than chunked,
    /// a missing or repeated Host.
    case malformed
    /// A declared length beyond the body limit with `Expect: 100-continue` (refused before the body is
    /// sent), or beyond what can be counted.
    case bodyTooLarge
    case uriTooLong
    case headersTooLarge
    case versionNotSupported
    case internalError
    /// The server stopped before any worker took the request; it did nothing.
    case stopping

    public var status: Int {
        switch self {
        case .malformed: return 400
        case .bodyTooLarge: return 413
        case .uriTooLong: return 414
        case .headersTooLarge: return 431
        case .versionNotSupported: return 505
        case .internalError: return 500
        case .stopping: return 503
        }
    }

    public var code: String {
        switch self {
        case .malformed: return "HTTP_MALFORMED"
        case .bodyTooLarge: return "BODY_TOO_LARGE"
        case .uriTooLong: return "URI_TOO_LONG"
        case .headersTooLarge: return "HEADERS_TOO_LARGE"
        case .versionNotSupported: return "HTTP_VERSION_NOT_SUPPORTED"
        case .internalError: return "INTERNAL"
        case .stopping: return "OVERLOADED"
        }
    }

    public var message: String {
        switch self {
        case .malformed: return "The request is not well-formed HTTP/1.1; the connection was closed."
        case .bodyTooLarge: return "The request is larger than the service accepts."
        case .uriTooLong: return "The request's path and query are longer than the service accepts."
        case .headersTooLarge: return "The request's headers are larger than the service accepts."
        case .versionNotSupported: return "The service speaks HTTP/1.1 (and 1.0) only."
        case .internalError: return "The service hit an unexpected error."
        case .stopping: return "The service is busy; try again in a moment."
        }
    }

    public var retryable: Bool { self == .internalError || self == .stopping }
}
