import CCurl

/// Why a request got no HTTP answer, sorted by what the caller may safely do next.
public enum TransportError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Refused, unreachable or name not resolved: the request surely did not leave.
    case couldNotConnect(String)
    /// No answer in time. `afterConnect`: the connection (TLS included) was up, so the request may have arrived.
    case timedOut(afterConnect: Bool)
    /// The peer's certificate or public key is not the one we trust.
    case tlsUntrusted(String)
    /// Anything else, with curl's code and message; the request may or may not have arrived.
    case other(code: Int, String)

    public var description: String {
        switch self {
        case let .couldNotConnect(m): return "could not connect: \(m)"
        case let .timedOut(afterConnect): return afterConnect ? "timed out waiting for the answer" : "timed out connecting"
        case let .tlsUntrusted(m): return "untrusted TLS peer: \(m)"
        case let .other(code, m): return "transport error \(code): \(m)"
        }
    }

    /// This failure as it must be read when the request may first have ridden a kept-alive connection that
    /// died (see `CurlConnection`): a failure to connect no longer proves that nothing was sent.
    func afterPossibleReuse(code: Int) -> TransportError {
        switch self {
        case .couldNotConnect(let m):
            return .other(code: code, "\(m) (after a kept-alive connection was lost: the request may have been sent)")
        case .timedOut(afterConnect: false):
            return .timedOut(afterConnect: true)
        default:
            return self
        }
    }

    /// Sorts a failed curl_easy_perform; `connected` tells whether the connection was established.
    static func classify(_ code: CURLcode, message: String, connected: Bool) -> TransportError {
        switch code {
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            return .couldNotConnect(message)
        case CURLE_OPERATION_TIMEDOUT:
            return .timedOut(afterConnect: connected)
        case CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_SSL_CACERT_BADFILE,
             CURLE_SSL_ISSUER_ERROR, CURLE_SSL_INVALIDCERTSTATUS:
            return .tlsUntrusted(message)
        default:
            return .other(code: Int(code.rawValue), message)
        }
    }
}
