//! The XDP L4 fast path from user space: load `lb_l4` and its companions, fill the VIP,
//! server and Maglev maps from the services, attach, and keep the rings in step with health.
//!
//! Ring updates are double-buffered: the inactive half of a service's ring is written (only
//! the slots that differ from what that half holds), then [`ServiceState::active`] flips,
//! so the program never sees a half-written ring. Flows already in the connection table
//! keep their server; only new flows follow the new ring.

use std::{
    fs, io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    path::{Path, PathBuf},
};

use aya::{
    Ebpf, EbpfLoader,
    maps::{Array, HashMap, MapData, ProgramArray},
    programs::{
        SchedClassifier, TcAttachType, TestRun as _, TestRunOptions, Xdp, XdpMode as AyaMode, tc,
    },
};
use lb_common::l4::{
    FlowKey, FlowValue, IPPROTO_TCP, L4_CHAIN_MAP, L4_CONFIG_MAP, L4_DECAP_PROGRAM, L4_FLOWS_MAP,
    L4_MAGLEV_MAP, L4_MAPS, L4_MAX_REALS, L4_MAX_SERVICES, L4_NAMES_MAP, L4_NAT_TC_PROGRAM,
    L4_PASS_PROGRAM, L4_PROGRAM, L4_REALS_MAP, L4_SERVICES_MAP, L4_VIPS_MAP, L4Config, L4Name,
    MAGLEV_RING, Real, ServiceState, VIP_NAT, VipInfo, VipKey, maglev_index,
};

use super::{
    AttachedMode, EbpfError, Unavailable, XdpRuntime, build_info,
    maglev::{self, MaglevServer},
    object, probe,
};
use crate::config::model::XdpMode;

/// How packets reach the servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardMethod {
    /// IPIP / IPv6-in-IPv6 to the server, which answers the client directly.
    Dsr,
    /// Destination rewritten to the server; replies rewritten back by `lb_l4_nat_reply`.
    Nat,
}

/// A server of an L4 service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L4Server {
    /// Its name (the Maglev permutation derives from it).
    pub name: String,
    /// Address; the port is used by NAT (DSR keeps the VIP's port).
    pub addr: SocketAddr,
    /// Weight (0: no new flows).
    pub weight: u32,
    /// A backup server: only used when no active server is up.
    pub backup: bool,
    /// Up (health checks pass) and not in maintenance.
    pub up: bool,
}

/// A service: VIPs balanced over servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L4Service {
    /// The proxy's name.
    pub name: String,
    /// VIP:port pairs (TCP).
    pub vips: Vec<SocketAddr>,
    /// Forwarding method.
    pub method: ForwardMethod,
    /// `option allbackups`: every usable backup server, not just the first.
    pub allbackups: bool,
    /// Servers, in config order.
    pub servers: Vec<L4Server>,
}

/// Outer source addresses of encapsulated packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct L4Sources {
    /// IPv4 outer source.
    pub v4: Option<Ipv4Addr>,
    /// IPv6 outer source.
    pub v6: Option<Ipv6Addr>,
}

/// A run of a program on one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameRun {
    /// The program's return value (XDP action or TC verdict).
    pub action: u32,
    /// The frame as the program left it.
    pub frame: Vec<u8>,
    /// Mean time per run, in nanoseconds.
    pub ns_per_packet: u64,
}

struct ServiceSlot {
    allbackups: bool,
    servers: Vec<ServerSlot>,
    active: u32,
    /// What each half of the ring holds now.
    halves: [Vec<u32>; 2],
}

struct ServerSlot {
    name: String,
    index: u32,
    weight: u32,
    backup: bool,
    up: bool,
}

/// The loaded fast path. Dropping it detaches its programs (pins stay unless
/// [`Self::remove_pins_on_drop`]).
pub struct L4Runtime {
    ebpf: Ebpf,
    pin_dir: PathBuf,
    services: Vec<ServiceSlot>,
    remove_pins: bool,
}

impl std::fmt::Debug for L4Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("L4Runtime")
            .field("pin_dir", &self.pin_dir)
            .field("services", &self.services.len())
            .finish_non_exhaustive()
    }
}

/// Why a set of services cannot go into the maps.
fn invalid(why: String) -> EbpfError {
    EbpfError::L4(why)
}

impl L4Runtime {
    /// Loads the fast-path programs (not attached), with fresh maps pinned under `pin_dir`.
    pub fn load(pin_dir: &Path) -> Result<Self, EbpfError> {
        probe(pin_dir)?;
        let object = object().ok_or(Unavailable::NotBuiltIn(build_info()))?;
        fs::create_dir_all(pin_dir).map_err(|source| EbpfError::PinDir {
            path: pin_dir.to_path_buf(),
            source,
        })?;
        // Rings, flows and counters describe one configuration: start from empty maps.
        for name in L4_MAPS {
            let pin = pin_dir.join(name);
            if let Err(source) = fs::remove_file(&pin)
                && source.kind() != io::ErrorKind::NotFound
            {
                return Err(EbpfError::PinDir { path: pin, source });
            }
        }
        let pins: Vec<_> = L4_MAPS.iter().map(|n| (*n, pin_dir.join(n))).collect();
        let mut loader = EbpfLoader::new();
        for (name, pin) in &pins {
            loader.map_pin_path(name, pin.as_path());
        }
        let mut ebpf = loader.load(object)?;
        for name in [L4_PROGRAM, L4_PASS_PROGRAM, L4_DECAP_PROGRAM] {
            xdp_mut(&mut ebpf, name)?
                .load()
                .map_err(EbpfError::Program)?;
        }
        tc_mut(&mut ebpf)?.load().map_err(EbpfError::Program)?;
        Ok(Self {
            ebpf,
            pin_dir: pin_dir.to_path_buf(),
            services: Vec::new(),
            remove_pins: false,
        })
    }

    /// The directory of the pinned maps.
    pub fn pin_dir(&self) -> &Path {
        &self.pin_dir
    }

    /// Also removes the pinned maps on drop.
    pub const fn remove_pins_on_drop(&mut self) {
        self.remove_pins = true;
    }

    /// Writes the services: VIPs, servers, names and rings. Call once, before attaching.
    pub fn configure(
        &mut self,
        sources: L4Sources,
        services: &[L4Service],
    ) -> Result<(), EbpfError> {
        if services.len() > L4_MAX_SERVICES as usize {
            return Err(invalid(format!(
                "at most {L4_MAX_SERVICES} xdp-forward services"
            )));
        }
        let mut config = L4Config::default();
        if let Some(v4) = sources.v4 {
            config.src4 = v4.octets();
        }
        if let Some(v6) = sources.v6 {
            config.src6 = v6.octets();
        }
        self.array::<L4Config>(L4_CONFIG_MAP)?
            .set(0, config, 0)
            .map_err(write(L4_CONFIG_MAP))?;
        let mut next_real = 0u32;
        for (id, service) in (0u32..).zip(services) {
            let mut slot = ServiceSlot {
                allbackups: service.allbackups,
                servers: Vec::new(),
                active: 0,
                halves: [vec![0; MAGLEV_RING as usize], vec![0; MAGLEV_RING as usize]],
            };
            self.set_name(id, 0, &service.name)?;
            for server in &service.servers {
                if next_real >= L4_MAX_REALS {
                    return Err(invalid(format!(
                        "at most {L4_MAX_REALS} xdp-forward servers"
                    )));
                }
                let (addr, family) = addr_bytes(server.addr.ip());
                let real = Real {
                    addr,
                    port: if service.method == ForwardMethod::Nat {
                        server.addr.port()
                    } else {
                        0
                    },
                    family,
                    pad: 0,
                };
                self.array::<Real>(L4_REALS_MAP)?
                    .set(next_real, real, 0)
                    .map_err(write(L4_REALS_MAP))?;
                self.set_name(L4_MAX_SERVICES + next_real, id + 1, &server.name)?;
                slot.servers.push(ServerSlot {
                    name: server.name.clone(),
                    index: next_real,
                    weight: server.weight,
                    backup: server.backup,
                    up: server.up,
                });
                next_real += 1;
            }
            // Both halves start as "all slot 0" in user space's view; the first write fills
            // half 1 completely, then it becomes active.
            self.services.push(slot);
            self.rebuild(id as usize, true)?;
            let flags = if service.method == ForwardMethod::Nat {
                VIP_NAT
            } else {
                0
            };
            for vip in &service.vips {
                let (addr, family) = addr_bytes(vip.ip());
                let key = VipKey {
                    addr,
                    port: vip.port(),
                    proto: IPPROTO_TCP,
                    family,
                };
                let mut vips: HashMap<_, VipKey, VipInfo> = self.map(L4_VIPS_MAP)?;
                vips.insert(key, VipInfo { service: id, flags }, 0)
                    .map_err(write(L4_VIPS_MAP))?;
            }
        }
        Ok(())
    }

    /// Sets the health and weight of the servers of service `service` (in config order);
    /// rebuilds and swaps its ring when that changes which servers take new flows.
    /// Returns whether the ring changed.
    pub fn update_servers(
        &mut self,
        service: usize,
        states: &[(bool, u32)],
    ) -> Result<bool, EbpfError> {
        let Some(slot) = self.services.get_mut(service) else {
            return Err(invalid(format!("no xdp-forward service #{service}")));
        };
        let mut changed = false;
        for (server, &(up, weight)) in slot.servers.iter_mut().zip(states) {
            changed |= server.up != up || server.weight != weight;
            server.up = up;
            server.weight = weight;
        }
        if changed {
            self.rebuild(service, false)?;
        }
        Ok(changed)
    }

    /// Writes the ring of `service` into its inactive half, then flips.
    fn rebuild(&mut self, service: usize, first: bool) -> Result<(), EbpfError> {
        let slot = &self.services[service];
        let list: Vec<_> = slot
            .servers
            .iter()
            .map(|s| {
                let m = MaglevServer {
                    id: &s.name,
                    weight: s.weight,
                    value: s.index,
                };
                (m, s.backup, s.up)
            })
            .collect();
        let ring = maglev::build(&maglev::select(&list, slot.allbackups), MAGLEV_RING);
        let half = slot.active ^ 1;
        let id = service as u32;
        let old = std::mem::take(&mut self.services[service].halves[half as usize]);
        let mut maglev: Array<_, u32> = self.map(L4_MAGLEV_MAP)?;
        for (i, (&new, &was)) in (0u32..).zip(ring.iter().zip(&old)) {
            if first || new != was {
                maglev
                    .set(maglev_index(id, half, i), new, 0)
                    .map_err(write(L4_MAGLEV_MAP))?;
            }
        }
        let mut states: Array<_, ServiceState> = self.map(L4_SERVICES_MAP)?;
        states
            .set(
                id,
                ServiceState {
                    active: half,
                    pad: 0,
                },
                0,
            )
            .map_err(write(L4_SERVICES_MAP))?;
        let slot = &mut self.services[service];
        slot.halves[half as usize] = ring;
        slot.active = half;
        Ok(())
    }

    /// Attaches `lb_l4` to `interface`.
    pub fn attach_xdp(
        &mut self,
        interface: &str,
        mode: XdpMode,
    ) -> Result<AttachedMode, EbpfError> {
        attach_xdp(xdp_mut(&mut self.ebpf, L4_PROGRAM)?, interface, mode)
    }

    /// Attaches `lb_l4_pass` (the veth peer of a redirect target) to `interface`.
    pub fn attach_pass(
        &mut self,
        interface: &str,
        mode: XdpMode,
    ) -> Result<AttachedMode, EbpfError> {
        attach_xdp(xdp_mut(&mut self.ebpf, L4_PASS_PROGRAM)?, interface, mode)
    }

    /// Attaches `lb_l4_decap` (a server's side of DSR) to `interface`.
    pub fn attach_decap(
        &mut self,
        interface: &str,
        mode: XdpMode,
    ) -> Result<AttachedMode, EbpfError> {
        attach_xdp(xdp_mut(&mut self.ebpf, L4_DECAP_PROGRAM)?, interface, mode)
    }

    /// Attaches the NAT return path to the ingress of `interface` (toward the servers).
    pub fn attach_nat_reply(&mut self, interface: &str) -> Result<(), EbpfError> {
        // Kernels before 6.6 attach through a clsact qdisc; it may already exist.
        let _ = tc::qdisc_add_clsact(interface);
        tc_mut(&mut self.ebpf)?
            .attach(interface, TcAttachType::Ingress)
            .map(drop)
            .map_err(|source| EbpfError::Attach {
                interface: interface.to_owned(),
                mode: "tc ingress",
                source,
            })
    }

    /// Chains the guard: packets that are not for a VIP continue in `guard`'s `lb_xdp`.
    pub fn chain_guard(&mut self, guard: &XdpRuntime) -> Result<(), EbpfError> {
        let fd = guard
            .program()?
            .fd()
            .map_err(EbpfError::Program)?
            .try_clone()
            .map_err(|e| EbpfError::L4(format!("cannot duplicate the guard's program fd: {e}")))?;
        let map = self
            .ebpf
            .map_mut(L4_CHAIN_MAP)
            .ok_or(EbpfError::Missing(L4_CHAIN_MAP))?;
        let mut chain = ProgramArray::try_from(map).map_err(read(L4_CHAIN_MAP))?;
        chain.set(0, &fd, 0).map_err(write(L4_CHAIN_MAP))
    }

    /// Runs `lb_l4` on `frame` `repeat` times; the frame comes back as the last run left it.
    pub fn test_run(&self, frame: &[u8], repeat: u32) -> Result<FrameRun, EbpfError> {
        self.test_run_xdp(L4_PROGRAM, frame, repeat)
    }

    /// Runs `lb_l4_pass` (which does nothing) on `frame`: the floor of the cost benchmark.
    pub fn test_run_pass(&self, frame: &[u8], repeat: u32) -> Result<FrameRun, EbpfError> {
        self.test_run_xdp(L4_PASS_PROGRAM, frame, repeat)
    }

    fn test_run_xdp(
        &self,
        name: &'static str,
        frame: &[u8],
        repeat: u32,
    ) -> Result<FrameRun, EbpfError> {
        let program: &Xdp = self
            .ebpf
            .program(name)
            .ok_or(EbpfError::Missing(name))?
            .try_into()
            .map_err(EbpfError::Program)?;
        let mut out = vec![0u8; frame.len() + 256];
        let opts = TestRunOptions {
            data_in: Some(frame),
            data_out: Some(&mut out),
            repeat: repeat.max(1),
            ..TestRunOptions::default()
        };
        let result = program.test_run(opts).map_err(EbpfError::TestRun)?;
        out.truncate(result.data_size_out as usize);
        Ok(FrameRun {
            action: result.return_value,
            frame: out,
            ns_per_packet: u64::try_from(result.duration.as_nanos()).unwrap_or(u64::MAX),
        })
    }

    /// Runs `lb_l4_nat_reply` (TC) on `frame` once.
    pub fn test_run_nat_reply(&self, frame: &[u8]) -> Result<FrameRun, EbpfError> {
        let program: &SchedClassifier = self
            .ebpf
            .program(L4_NAT_TC_PROGRAM)
            .ok_or(EbpfError::Missing(L4_NAT_TC_PROGRAM))?
            .try_into()
            .map_err(EbpfError::Program)?;
        let mut out = vec![0u8; frame.len() + 256];
        let opts = TestRunOptions {
            data_in: Some(frame),
            data_out: Some(&mut out),
            ..TestRunOptions::default()
        };
        let result = program.test_run(opts).map_err(EbpfError::TestRun)?;
        out.truncate(result.data_size_out as usize);
        Ok(FrameRun {
            action: result.return_value,
            frame: out,
            ns_per_packet: u64::try_from(result.duration.as_nanos()).unwrap_or(u64::MAX),
        })
    }

    /// The server index the connection table holds for `key`, if any.
    pub fn flow(&self, key: &FlowKey) -> Result<Option<FlowValue>, EbpfError> {
        let map = self
            .ebpf
            .map(L4_FLOWS_MAP)
            .ok_or(EbpfError::Missing(L4_FLOWS_MAP))?;
        let flows: HashMap<_, FlowKey, FlowValue> =
            HashMap::try_from(map).map_err(read(L4_FLOWS_MAP))?;
        match flows.get(key, 0) {
            Ok(v) => Ok(Some(v)),
            Err(aya::maps::MapError::KeyNotFound) => Ok(None),
            Err(source) => Err(EbpfError::Read {
                map: L4_FLOWS_MAP,
                source,
            }),
        }
    }

    /// Current counters of every service and server.
    pub fn stats(&self) -> Result<super::l4_stats::L4Stats, EbpfError> {
        super::l4_stats::read_l4_stats(&self.pin_dir)
    }

    fn set_name(&mut self, index: u32, service: u32, name: &str) -> Result<(), EbpfError> {
        let mut entry = L4Name {
            service,
            ..L4Name::default()
        };
        let bytes = name.as_bytes();
        let mut len = bytes.len().min(entry.name.len());
        while !name.is_char_boundary(len) {
            len -= 1;
        }
        entry.name[..len].copy_from_slice(&bytes[..len]);
        entry.len = len as u32;
        self.array::<L4Name>(L4_NAMES_MAP)?
            .set(index, entry, 0)
            .map_err(write(L4_NAMES_MAP))
    }

    fn array<V: aya::Pod>(
        &mut self,
        name: &'static str,
    ) -> Result<Array<&mut MapData, V>, EbpfError> {
        self.map(name)
    }

    fn map<'a, T>(&'a mut self, name: &'static str) -> Result<T, EbpfError>
    where
        T: TryFrom<&'a mut aya::maps::Map, Error = aya::maps::MapError>,
    {
        let map = self.ebpf.map_mut(name).ok_or(EbpfError::Missing(name))?;
        T::try_from(map).map_err(read(name))
    }
}

impl Drop for L4Runtime {
    fn drop(&mut self) {
        if self.remove_pins {
            for name in L4_MAPS {
                let _ = fs::remove_file(self.pin_dir.join(name));
            }
            let _ = fs::remove_dir(&self.pin_dir);
        }
    }
}

fn write(map: &'static str) -> impl Fn(aya::maps::MapError) -> EbpfError {
    move |source| EbpfError::Write { map, source }
}

fn read(map: &'static str) -> impl Fn(aya::maps::MapError) -> EbpfError {
    move |source| EbpfError::Read { map, source }
}

fn addr_bytes(ip: IpAddr) -> ([u8; 16], u8) {
    let mut addr = [0u8; 16];
    match ip {
        IpAddr::V4(v4) => {
            addr[..4].copy_from_slice(&v4.octets());
            (addr, 4)
        }
        IpAddr::V6(v6) => (v6.octets(), 6),
    }
}

fn xdp_mut<'a>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut Xdp, EbpfError> {
    ebpf.program_mut(name)
        .ok_or(EbpfError::Missing(name))?
        .try_into()
        .map_err(EbpfError::Program)
}

fn tc_mut(ebpf: &mut Ebpf) -> Result<&mut SchedClassifier, EbpfError> {
    ebpf.program_mut(L4_NAT_TC_PROGRAM)
        .ok_or(EbpfError::Missing(L4_NAT_TC_PROGRAM))?
        .try_into()
        .map_err(EbpfError::Program)
}

fn attach_xdp(program: &mut Xdp, name: &str, mode: XdpMode) -> Result<AttachedMode, EbpfError> {
    let failed = |mode, source| EbpfError::Attach {
        interface: name.to_owned(),
        mode,
        source,
    };
    if name.contains('\0') {
        let unknown = aya::programs::ProgramError::UnknownInterface { name: name.into() };
        return Err(failed("any mode", unknown));
    }
    match mode {
        XdpMode::Native => program
            .attach(name, AyaMode::Driver)
            .map(|_| AttachedMode::Native)
            .map_err(|e| failed("native mode", e)),
        XdpMode::Generic => program
            .attach(name, AyaMode::Skb)
            .map(|_| AttachedMode::Generic)
            .map_err(|e| failed("generic mode", e)),
        XdpMode::Auto => match program.attach(name, AyaMode::Driver) {
            Ok(_) => Ok(AttachedMode::Native),
            Err(_) => program
                .attach(name, AyaMode::Skb)
                .map(|_| AttachedMode::Generic)
                .map_err(|e| failed("native then generic mode", e)),
        },
    }
}
