//! Hostile: tries name lookup and a TCP connection through wasi:sockets directly (not via
//! std, so the attempt really reaches the host). Config `{"port": N}` picks a local port.
wit_bindgen::generate!({ path: "../../../../wit", world: "hook", generate_all });

struct Hook;

export!(Hook);

use wasip2::sockets::{instance_network, ip_name_lookup, network, tcp, tcp_create_socket};

fn lookup(net: &network::Network) -> Result<usize, network::ErrorCode> {
    let stream = ip_name_lookup::resolve_addresses(net, "localhost")?;
    let mut n = 0;
    loop {
        match stream.resolve_next_address() {
            Ok(Some(_)) => n += 1,
            Ok(None) => return Ok(n),
            Err(network::ErrorCode::WouldBlock) => stream.subscribe().block(),
            Err(e) => return Err(e),
        }
    }
}

fn connect(net: &network::Network, port: u16) -> Result<(), network::ErrorCode> {
    let sock = tcp_create_socket::create_tcp_socket(network::IpAddressFamily::Ipv4)?;
    let addr = network::IpSocketAddress::Ipv4(network::Ipv4SocketAddress {
        port,
        address: (127, 0, 0, 1),
    });
    sock.start_connect(net, addr)?;
    loop {
        match sock.finish_connect() {
            Ok(_) => return Ok(()),
            Err(network::ErrorCode::WouldBlock) => sock.subscribe().block(),
            Err(e) => return Err(e),
        }
    }
}

impl Guest for Hook {
    fn run(ctx: Context) -> Result<(), String> {
        let port = ctx
            .config_json
            .split("\"port\":")
            .nth(1)
            .and_then(|s| {
                s.trim_matches(|c: char| !c.is_ascii_digit())
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
                    .map(str::to_string)
            })
            .and_then(|s| s.parse().ok())
            .unwrap_or(80);
        let net = instance_network::instance_network();
        let looked_up = lookup(&net);
        let connected = connect(&net, port);
        let _ = tcp::ShutdownType::Both;
        if looked_up.is_ok() || connected.is_ok() {
            println!(
                "LEAKED network: lookup {looked_up:?}, connect 127.0.0.1:{port} {connected:?}"
            );
            Ok(())
        } else {
            Err(format!(
                "network denied: lookup {looked_up:?}, connect 127.0.0.1:{port} {connected:?}"
            ))
        }
    }
}
