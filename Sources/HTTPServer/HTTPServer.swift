import CShims
import Foundation

/// A running HTTP(S) server: one libmicrohttpd daemon per listen address, one thread per connection.
///
/// `@unchecked Sendable` because its only mutable state, the list of C daemon handles, is guarded by `lock`.
public final class HTTPServer: @unchecked Sendable {
    /// The listen addresses with the ports actually bound.
    public let boundAddresses: [ListenAddress]

    private let lock = NSLock()
    private var daemons: [OpaquePointer]
    private var context: Unmanaged<HandlerBox>?
    private let stopTimeoutSeconds: UInt32

    /// Starts listening on every address; throws (after closing any already opened) if one fails.
    public init(configuration: HTTPServerConfiguration,
                handler: @escaping @Sendable (HTTPRequest) -> HTTPResponse) throws {
        let context = Unmanaged.passRetained(HandlerBox(handler))
        var daemons: [OpaquePointer] = []
        var bound: [ListenAddress] = []
        for address in configuration.listen {
            do {
                let daemon = try Self.start(address, configuration, context.toOpaque())
                daemons.append(daemon)
                var actual = address
                actual.port = cashier_http_bound_port(daemon)
                bound.append(actual)
            } catch {
                for daemon in daemons { cashier_http_stop(daemon, 0) }
                context.release()
                throw error
            }
        }
        self.daemons = daemons
        self.context = context
        self.boundAddresses = bound
        self.stopTimeoutSeconds = UInt32(clamping: max(0, configuration.stopTimeoutSeconds))
    }

    deinit { stop() }

    /// Stops accepting connections, lets in-flight requests finish and their responses go out (up to
    /// `stopTimeoutSeconds`), then closes everything. Safe to call more than once; never call it from a handler.
    public func stop() {
        lock.lock()
        let daemons = self.daemons
        let context = self.context
        self.daemons = []
        self.context = nil
        lock.unlock()
        for daemon in daemons { cashier_http_stop(daemon, stopTimeoutSeconds) }
        context?.release()
    }

    private static func start(_ address: ListenAddress, _ configuration: HTTPServerConfiguration,
                              _ context: UnsafeMutableRawPointer) throws -> OpaquePointer {
        let prefix = "cannot listen on \(address.displayName)"
        var tls: TLSMaterial?
        if address.tls {
            guard let material = configuration.tls else {
                throw HTTPServerError("\(prefix): TLS requested but no certificate and key configured")
            }
            tls = material
        }
        var error = [CChar](repeating: 0, count: 512)
        let daemon: OpaquePointer? = address.host.withCString { host in
            withOptionalCString(tls?.certificatePEM) { certificate in
                withOptionalCString(tls?.privateKeyPEM) { key in
                    var config = cashier_http_config(
                        address: host,
                        port: address.port,
                        tls_certificate_pem: certificate,
                        tls_private_key_pem: key,
                        max_body_bytes: max(0, configuration.maxBodyBytes),
                        connection_timeout_seconds: UInt32(clamping: max(0, configuration.connectionTimeoutSeconds)),
                        connection_limit: UInt32(clamping: max(1, configuration.connectionLimit)),
                        per_ip_connection_limit: UInt32(clamping: max(0, configuration.perIPConnectionLimit)))
                    return cashier_http_start(&config, handleRequest, context, &error, error.count)
                }
            }
        }
        guard let daemon else {
            let reason = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw HTTPServerError("\(prefix): \(reason)")
        }
        return daemon
    }
}

/// Holds the handler closure so C can reach it through an opaque pointer.
private final class HandlerBox: Sendable {
    let handler: @Sendable (HTTPRequest) -> HTTPResponse
    init(_ handler: @escaping @Sendable (HTTPRequest) -> HTTPResponse) { self.handler = handler }
}

private func withOptionalCString<R>(_ text: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let text else { return body(nil) }
    return text.withCString { body($0) }
}

/// Called by C on a connection thread with a complete request; writes the handler's response back.
private func handleRequest(context: UnsafeMutableRawPointer?, request: UnsafePointer<cashier_http_request>?,
                           response: OpaquePointer?) {
    guard let context, let request, let response else { return }
    let box = Unmanaged<HandlerBox>.fromOpaque(context).takeUnretainedValue()
    let answer = box.handler(HTTPRequest(request.pointee))
    answer.body.withUnsafeBufferPointer { body in
        cashier_http_response_set(response, UInt32(clamping: answer.status), body.baseAddress, body.count)
    }
    for (name, value) in answer.headers {
        _ = cashier_http_response_add_header(response, name, value)
    }
}

extension HTTPRequest {
    /// Copies everything out of the C request, whose memory lives only for the handler call.
    init(_ raw: cashier_http_request) {
        func pairs(_ base: UnsafePointer<cashier_http_pair>?, _ count: Int) -> [(String, String)] {
            guard let base else { return [] }
            return UnsafeBufferPointer(start: base, count: count).map { pair in
                (pair.name.map { String(cString: $0) } ?? "", pair.value.map { String(cString: $0) } ?? "")
            }
        }
        var headers: [String: String] = [:]
        for (name, value) in pairs(raw.headers, raw.header_count) {
            let key = name.lowercased()
            headers[key] = headers[key].map { "\($0), \(value)" } ?? value
        }
        let body = raw.body.map { Array(UnsafeBufferPointer(start: $0, count: raw.body_length)) } ?? []
        self.init(method: raw.method.map { String(cString: $0) } ?? "",
                  path: raw.path.map { String(cString: $0) } ?? "/",
                  query: pairs(raw.query, raw.query_count),
                  headers: headers,
                  body: body,
                  bodyTooLarge: raw.body_too_large != 0,
                  remoteAddress: raw.remote_address.map { String(cString: $0) } ?? "")
    }
}
