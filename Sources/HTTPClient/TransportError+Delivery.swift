import CCurl

extension TransportError {
    /// True when the failure proves the request never left: the name did not resolve, the connection was
    /// refused or timed out before it was up, or TLS failed before the handshake completed. Only then may
    /// a request that must not be sent twice be sent elsewhere. Any other failure (a timeout once
    /// connected, a reset while waiting, an empty reply) may have followed the request's arrival.
    public var requestSurelyNotSent: Bool {
        switch self {
        case .couldNotConnect: return true
        case .timedOut(let afterConnect): return !afterConnect
        case .tlsUntrusted: return true
        case .other(let code, _):
            switch code {
            case Int(CURLE_SSL_CONNECT_ERROR.rawValue), Int(CURLE_SSL_CERTPROBLEM.rawValue),
                 Int(CURLE_SSL_CIPHER.rawValue), Int(CURLE_SSL_ENGINE_NOTFOUND.rawValue),
                 Int(CURLE_SSL_ENGINE_SETFAILED.rawValue), Int(CURLE_UNSUPPORTED_PROTOCOL.rawValue),
                 Int(CURLE_URL_MALFORMAT.rawValue), -1:
                return true
            default:
                return false
            }
        }
    }

    /// True when the host could not be reached at all — the name did not resolve, the connection was
    /// refused, or connecting timed out: what counts against a domain's health.
    public var hostUnreachable: Bool {
        switch self {
        case .couldNotConnect: return true
        case .timedOut(let afterConnect): return !afterConnect
        case .tlsUntrusted, .other: return false
        }
    }
}
