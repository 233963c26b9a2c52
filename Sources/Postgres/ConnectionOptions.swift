/// Where a connection goes and how long it may wait.
///
/// `conninfo` is a libpq connection string, in either form ("host=127.0.0.1 port=5432 dbname=x" or
/// "postgresql://..."); the timeouts below are applied on top of it and win over the same settings in it.
public struct ConnectionOptions: Equatable, Sendable {
    public var conninfo: String
    /// Seconds to wait for a connection to be made; libpq treats anything below 2 as 2.
    public var connectTimeoutSeconds: Int
    /// Server-side limit on one statement (`statement_timeout`), milliseconds; 0 means none.
    public var statementTimeoutMilliseconds: Int
    /// Server-side limit on waiting for a lock (`lock_timeout`), milliseconds; 0 means none.
    public var lockTimeoutMilliseconds: Int
    /// Client-side limit on unacknowledged data on the socket (`tcp_user_timeout`), milliseconds; notices a
    /// vanished server that never closes the connection (a host powered off, a network cut). 0 means the
    /// system default. 3 s: a server's kernel acknowledges within a round trip however busy PostgreSQL is, and
    /// every request that meets a cut waits this long (measured in the drill's cut-off phase: sales of up to
    /// 6.6 s with 10 s).
    public var tcpUserTimeoutMilliseconds: Int

    public init(conninfo: String, connectTimeoutSeconds: Int = 3, statementTimeoutMilliseconds: Int = 5_000,
                lockTimeoutMilliseconds: Int = 2_000, tcpUserTimeoutMilliseconds: Int = 3_000) {
        self.conninfo = conninfo
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.statementTimeoutMilliseconds = statementTimeoutMilliseconds
        self.lockTimeoutMilliseconds = lockTimeoutMilliseconds
        self.tcpUserTimeoutMilliseconds = tcpUserTimeoutMilliseconds
    }

    /// Keyword/value pairs for `PQconnectdbParams` with `expand_dbname`: the first names the whole conninfo.
    var parameters: [(String, String)] {
        [
            ("dbname", conninfo),
            ("connect_timeout", String(connectTimeoutSeconds)),
            // client_min_messages: no NOTICE for every CREATE … IF NOT EXISTS on the terminal of every admin command.
            ("options", "-c statement_timeout=\(statementTimeoutMilliseconds) -c lock_timeout=\(lockTimeoutMilliseconds) -c client_min_messages=warning"),
            ("tcp_user_timeout", String(tcpUserTimeoutMilliseconds)),
            ("keepalives", "1"),
            ("keepalives_idle", "5"),
            ("keepalives_interval", "2"),
            ("keepalives_count", "3"),
            ("application_name", "cashierd"),
        ]
    }
}
