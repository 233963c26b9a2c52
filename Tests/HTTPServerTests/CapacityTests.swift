import Foundation
import HTTPServer
import XCTest

/// Connections cost a socket, not a thread: thousands of idle keep-alive connections are held while
/// requests go on; handlers run on a bounded pool of workers, never on the event threads; the listen
/// addresses share the descriptor budget so a flood on one leaves the others room.
final class CapacityTests: XCTestCase {
    /// Idle keep-alive connections held in the regular run (CI-sized); each costs two descriptors here,
    /// since client and server are one process.
    static let idleConnections = 2_000

    func twoListeners(_ tweak: (inout HTTPServerConfiguration) -> Void = { _ in },
                      handler: @escaping @Sendable (HTTPRequest) -> HTTPResponse = describe) throws -> HTTPServer {
        var configuration = HTTPServerConfiguration(listen: [ListenAddress(host: "127.0.0.1", port: 0, tls: false),
                                                             ListenAddress(host: "127.0.0.1", port: 0, tls: false)])
        configuration.connectionTimeoutSeconds = 120
        tweak(&configuration)
        return try HTTPServer(configuration: configuration, handler: handler)
    }

    func testThousandsOfIdleKeepAliveConnectionsAreHeldWhileRequestsGoOn() throws {
        let count = Self.idleConnections
        let limit = raiseOpenFileLimit()
        guard limit > 2 * count + 200 else { throw XCTSkip("open-file limit \(limit) is too low for \(count) connections") }
        let server = try twoListeners()
        defer { server.stop() }
        let (flooded, other) = (server.boundAddresses[0].port, server.boundAddresses[1].port)
        let started = Date()
        var held: [RawSocket] = []
        for i in 0..<count {
            let socket = try RawSocket(port: flooded, receiveTimeout: 10)
            socket.send("GET /idle/\(i) HTTP/1.1\r\nHost: x\r\n\r\n")
            held.append(socket)
        }
        // Every one was answered and stays open (keep-alive).
        var answered = 0
        for (i, socket) in held.enumerated() where socket.readResponse()?.contains("path=/idle/\(i)\n") == true { answered += 1 }
        XCTAssertEqual(answered, count, "not every connection was served")
        XCTAssertGreaterThanOrEqual(server.openConnections, count)

        // New connections on both addresses are served at once while the others sit idle.
        for port in [other, flooded] {
            let fresh = try RawSocket(port: port, receiveTimeout: 5)
            let asked = Date()
            fresh.send("GET /fresh HTTP/1.1\r\nHost: x\r\n\r\n")
            XCTAssertTrue(fresh.readResponse()?.contains("path=/fresh\n") ?? false, "port \(port) did not answer")
            XCTAssertLessThan(Date().timeIntervalSince(asked), 1)
        }
        let curl = try runCurl(["http://127.0.0.1:\(other)/curl"])
        XCTAssertTrue(curl.stdout.contains("path=/curl\n"), curl.stdout + curl.stderr)

        // And the idle ones still answer a second request on the same connection.
        for socket in held { socket.send("GET /again HTTP/1.1\r\nHost: x\r\n\r\n") }
        let again = held.filter { $0.readResponse()?.contains("path=/again\n") == true }.count
        XCTAssertEqual(again, count, "idle connections were dropped")
        XCTAssertLessThan(Date().timeIntervalSince(started), 60)
        XCTAssertLessThanOrEqual(server.workerThreadsStarted, HTTPServerConfiguration(listen: []).workerThreads)
    }

    /// A burst that reaches a pool with one idle worker runs at once, one worker per request: a woken
    /// worker is not yet busy when the next request of the burst comes, and counting it as free once
    /// per request made the whole burst wait in line behind it.
    func testABurstReachingOneIdleWorkerRunsConcurrently() throws {
        let gate = DispatchSemaphore(value: 0)
        let gauge = Gauge()
        var configuration = HTTPServerConfiguration(listen: [ListenAddress(host: "127.0.0.1", port: 0, tls: false)])
        configuration.workerThreads = 8
        let server = try HTTPServer(configuration: configuration) { request in
            gauge.enter()
            defer { gauge.leave() }
            if request.path == "/block" { _ = gate.wait(timeout: .now() + 20) }
            return describe(request)
        }
        defer { server.stop() }
        let port = server.boundAddresses[0].port
        // One request first: the pool now has one worker, idle.
        let warm = try RawSocket(port: port)
        warm.send("GET /warm HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        XCTAssertTrue(warm.readAll().text.hasPrefix("HTTP/1.1 200"))
        let burst = try (0..<4).map { _ in try RawSocket(port: port, receiveTimeout: 20) }
        for socket in burst { socket.send("GET /block HTTP/1.1\r\nHost: x\r\n\r\n") }
        let deadline = Date().addingTimeInterval(5)
        while gauge.snapshot.current < 4 && Date() < deadline { usleep(10_000) }
        XCTAssertEqual(gauge.snapshot.current, 4, "the burst waited in line behind one worker")
        for _ in 0..<4 { gate.signal() }
        XCTAssertEqual(burst.filter { $0.readResponse()?.contains("path=/block\n") == true }.count, 4)
    }

    func testHandlersRunOnABoundedPoolAndNeverHoldUpTheEventThread() throws {
        let gate = DispatchSemaphore(value: 0)
        let gauge = Gauge()
        var configuration = HTTPServerConfiguration(listen: [ListenAddress(host: "127.0.0.1", port: 0, tls: false)])
        configuration.workerThreads = 2
        configuration.connectionTimeoutSeconds = 1
        let server = try HTTPServer(configuration: configuration) { request in
            gauge.enter()
            defer { gauge.leave() }
            if request.path == "/block" { _ = gate.wait(timeout: .now() + 20) }
            return describe(request)
        }
        defer { server.stop() }
        let port = server.boundAddresses[0].port
        let blocked = try (0..<5).map { _ in try RawSocket(port: port, receiveTimeout: 20) }
        for socket in blocked { socket.send("GET /block HTTP/1.1\r\nHost: x\r\n\r\n") }
        let deadline = Date().addingTimeInterval(5)
        while gauge.snapshot.current < 2 && Date() < deadline { usleep(10_000) }
        usleep(200_000)
        XCTAssertEqual(gauge.snapshot.current, 2, "more handlers ran than there are workers")

        // Both workers are stuck, yet the event thread answers what it answers itself, and still closes
        // idle connections on time.
        let malformed = try RawSocket(port: port)
        let asked = Date()
        malformed.send("THIS IS NOT HTTP\r\n\r\n")
        XCTAssertTrue(malformed.readAll().text.hasPrefix("HTTP/1.1 400"))
        XCTAssertLessThan(Date().timeIntervalSince(asked), 1)
        let idle = try RawSocket(port: port, receiveTimeout: 5)
        idle.send("GET /half")
        let idleSince = Date()
        XCTAssertTrue(idle.readAll().closed)
        XCTAssertLessThan(Date().timeIntervalSince(idleSince), 4, "the idle timeout stopped working")

        for _ in 0..<5 { gate.signal() }
        let answered = blocked.filter { $0.readResponse()?.contains("path=/block\n") == true }.count
        XCTAssertEqual(answered, 5)
        XCTAssertEqual(gauge.snapshot.peak, 2)
        XCTAssertEqual(server.workerThreadsStarted, 2)
    }

    func testStopWaitsForRunningHandlersAndRefusesQueuedOnes() throws {
        let entered = DispatchSemaphore(value: 0)
        let gauge = Gauge()
        var configuration = HTTPServerConfiguration(listen: [ListenAddress(host: "127.0.0.1", port: 0, tls: false)])
        configuration.workerThreads = 1
        configuration.stopTimeoutSeconds = 1
        let server = try HTTPServer(configuration: configuration) { request in
            gauge.enter()
            entered.signal()
            usleep(2_000_000)
            gauge.leave()
            return describe(request)
        }
        let port = server.boundAddresses[0].port
        let running = try RawSocket(port: port, receiveTimeout: 10)
        running.send("GET /running HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(entered.wait(timeout: .now() + 5), .success)
        let queued = try RawSocket(port: port, receiveTimeout: 10)
        queued.send("GET /queued HTTP/1.1\r\nHost: x\r\n\r\n")
        usleep(200_000)
        let stopStarted = Date()
        server.stop()
        XCTAssertGreaterThan(Date().timeIntervalSince(stopStarted), 1.2, "stop did not wait for the running handler")
        XCTAssertEqual(gauge.snapshot.current, 0)
        XCTAssertEqual(gauge.snapshot.total, 1, "the queued request was handled after the stop timeout")
        XCTAssertTrue(running.readResponse()?.contains("path=/running\n") ?? false)
        let refused = queued.readAll().text
        XCTAssertFalse(refused.contains("path=/queued"), refused)
        XCTAssertTrue(refused.hasPrefix("HTTP/1.1 503"), refused)
        XCTAssertEqual(RawResponse(refused)?.error?["code"] as? String, "OVERLOADED", refused)
        XCTAssertEqual(RawResponse(refused)?.error?["retryable"] as? Bool, true, refused)
    }

    /// With a budget of 40 connections over two addresses, each keeps room for 10: a flood of 60 on the
    /// first gets 30, and the second still takes its 10.
    func testAFloodOnOneAddressLeavesTheOthersTheirShare() throws {
        let server = try twoListeners { $0.connectionBudget = 40 }
        defer { server.stop() }
        XCTAssertEqual(server.connectionBudget, 40)
        let (flooded, other) = (server.boundAddresses[0].port, server.boundAddresses[1].port)
        let flood = try (0..<60).map { _ in try RawSocket(port: flooded, receiveTimeout: 2) }
        usleep(300_000)
        for (i, socket) in flood.enumerated() { socket.send("GET /flood/\(i) HTTP/1.1\r\nHost: x\r\n\r\n") }
        let served = flood.filter { $0.readResponse() != nil }.count
        XCTAssertEqual(served, 30, "the flooded address took more than the budget less the other's share")
        let others = try (0..<10).map { _ in try RawSocket(port: other, receiveTimeout: 2) }
        for socket in others { socket.send("GET /other HTTP/1.1\r\nHost: x\r\n\r\n") }
        XCTAssertEqual(others.filter { $0.readResponse()?.contains("path=/other\n") == true }.count, 10,
                       "the flood took the other address's share")
        XCTAssertLessThanOrEqual(server.openConnections, 40)
    }

    func testTheOpenFileLimitIsRaisedToTheHardLimit() throws {
        var limit = rlimit()
        XCTAssertEqual(getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit), 0)
        let hard = limit.rlim_max
        limit.rlim_cur = min(hard, 1024)
        XCTAssertEqual(setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit), 0)
        let server = try plainServer()
        defer { server.stop() }
        XCTAssertEqual(getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit), 0)
        XCTAssertEqual(limit.rlim_cur, hard)
        XCTAssertEqual(server.connectionBudget, Int(hard) - HTTPServerConfiguration.reservedFileDescriptors)
        XCTAssertEqual(server.connectionLimitPerListener, min(20_000, server.connectionBudget))
    }
}
