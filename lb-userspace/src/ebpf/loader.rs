//! Loading the XDP program, attaching it to the configured interfaces, pinning its maps.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use aya::{
    Ebpf, EbpfLoader,
    programs::{ProgramError, Xdp, XdpMode as AyaMode},
};
use lb_common::{
    XDP_PROGRAM,
    guard::GUARD_MAPS,
    stats::{IF_MAPS, XDP_STATS_MAP},
};

use super::{EbpfError, Unavailable, XdpStats, build_info, object, probe, stats};
use crate::config::model::{XdpInterface, XdpMode, XdpSection};

/// How the program ended up attached to an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachedMode {
    /// In the driver (`XDP_FLAGS_DRV_MODE`).
    Native,
    /// In the generic network stack path (`XDP_FLAGS_SKB_MODE`), slower.
    Generic,
}

impl AttachedMode {
    /// Lower-case name, as in the config (`native`, `generic`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Generic => "generic",
        }
    }
}

/// One interface the program is attached to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Interface name.
    pub interface: String,
    /// The mode in effect.
    pub mode: AttachedMode,
}

/// The loaded program, its attachments and pinned maps; dropping it detaches everything.
pub struct XdpRuntime {
    // Owns the program and its links: aya detaches the links when this drops.
    pub(super) ebpf: Ebpf,
    pin_dir: PathBuf,
    attachments: Vec<Attachment>,
    remove_pins: bool,
}

impl XdpRuntime {
    /// The interfaces the program is attached to, in config order.
    pub fn attachments(&self) -> &[Attachment] {
        &self.attachments
    }

    /// The directory holding the pinned maps.
    pub fn pin_dir(&self) -> &Path {
        &self.pin_dir
    }

    /// Also removes the pinned maps (and the directory if it ends up empty) on drop.
    ///
    /// By default pins outlive the process so that counters survive a restart and
    /// `lb xdp stats` can still read them.
    pub const fn remove_pins_on_drop(&mut self) {
        self.remove_pins = true;
    }

    /// Undoes [`Self::remove_pins_on_drop`].
    pub const fn keep_pins_on_drop(&mut self) {
        self.remove_pins = false;
    }

    /// Current counters, summed over CPUs.
    pub fn stats(&self) -> Result<XdpStats, EbpfError> {
        let map = self
            .ebpf
            .map(XDP_STATS_MAP)
            .ok_or(EbpfError::Missing(XDP_STATS_MAP))?;
        let array = stats::as_stats_array(map)?;
        let mut stats = stats::collect(&array, self.pin_dir.join(XDP_STATS_MAP))?;
        stats::read_slots(&mut stats, &self.pin_dir)?;
        Ok(stats)
    }
}

impl std::fmt::Debug for XdpRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XdpRuntime")
            .field("pin_dir", &self.pin_dir)
            .field("attachments", &self.attachments)
            .field("remove_pins", &self.remove_pins)
            .finish_non_exhaustive()
    }
}

impl Drop for XdpRuntime {
    fn drop(&mut self) {
        if self.remove_pins {
            for name in pinned_maps() {
                let pin = self.pin_dir.join(name);
                if let Err(e) = fs::remove_file(&pin)
                    && e.kind() != io::ErrorKind::NotFound
                {
                    tracing::warn!("cannot remove pinned map {}: {e}", pin.display());
                }
            }
            // Fails harmlessly when other files remain.
            let _ = fs::remove_dir(&self.pin_dir);
        }
    }
}

/// Loads and attaches the XDP program as the `xdp` section says; `Ok(None)` without a section.
///
/// On error nothing stays attached. The caller decides: with `required` it refuses to start,
/// otherwise it logs the error once and runs L7 only.
pub fn start(xdp: Option<&XdpSection>) -> Result<Option<XdpRuntime>, EbpfError> {
    let Some(xdp) = xdp else {
        return Ok(None);
    };
    if xdp.interfaces.is_empty() {
        return Err(EbpfError::NoInterface);
    }
    let mut runtime = load(&xdp.pin_path)?;
    let program = runtime.program_mut()?;
    let mut attachments = Vec::with_capacity(xdp.interfaces.len());
    for iface in &xdp.interfaces {
        let mode = attach(program, iface)?;
        attachments.push(Attachment {
            interface: iface.name.clone(),
            mode,
        });
    }
    runtime.attachments = attachments;
    let names: Vec<&str> = xdp.interfaces.iter().map(|i| i.name.as_str()).collect();
    // Without a slot an interface still counts, under "other".
    if let Err(e) = super::interfaces::register(&runtime.pin_dir, &names) {
        tracing::warn!("XDP: no per-interface counters: {e}");
    }
    Ok(Some(runtime))
}

/// Loads the XDP program into the kernel without attaching it, its maps pinned under
/// `pin_dir` (reusing compatible pins: counters and deny entries survive restarts).
///
/// [`start`] attaches it; tests and benchmarks run it on fixture packets with
/// [`XdpRuntime::test_run`].
pub fn load(pin_dir: &Path) -> Result<XdpRuntime, EbpfError> {
    probe(pin_dir)?;
    let object = object().ok_or(Unavailable::NotBuiltIn(build_info()))?;
    prepare_pins(pin_dir)?;
    let pins: Vec<(&'static str, PathBuf)> = pinned_maps()
        .map(|name| (name, pin_dir.join(name)))
        .collect();
    let mut loader = EbpfLoader::new();
    for (name, pin) in &pins {
        loader.map_pin_path(name, pin.as_path());
    }
    let ebpf = loader.load(object)?;
    let mut runtime = XdpRuntime {
        ebpf,
        pin_dir: pin_dir.to_path_buf(),
        attachments: Vec::new(),
        remove_pins: false,
    };
    runtime.program_mut()?.load().map_err(EbpfError::Program)?;
    Ok(runtime)
}

impl XdpRuntime {
    fn program_mut(&mut self) -> Result<&mut Xdp, EbpfError> {
        self.ebpf
            .program_mut(XDP_PROGRAM)
            .ok_or(EbpfError::Missing(XDP_PROGRAM))?
            .try_into()
            .map_err(EbpfError::Program)
    }

    /// The loaded XDP program.
    pub(super) fn program(&self) -> Result<&Xdp, EbpfError> {
        self.ebpf
            .program(XDP_PROGRAM)
            .ok_or(EbpfError::Missing(XDP_PROGRAM))?
            .try_into()
            .map_err(EbpfError::Program)
    }
}

/// Every map the program pins: the reason counters, then the guard's maps.
fn pinned_maps() -> impl Iterator<Item = &'static str> {
    std::iter::once(XDP_STATS_MAP)
        .chain(GUARD_MAPS)
        .chain(IF_MAPS)
}

/// Creates the pin directory and removes pinned maps this build cannot reuse.
fn prepare_pins(dir: &Path) -> Result<(), EbpfError> {
    let pin_dir_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| EbpfError::PinDir { path, source }
    };
    fs::create_dir_all(dir).map_err(pin_dir_error(dir))?;
    let pin = dir.join(XDP_STATS_MAP);
    if fs::symlink_metadata(&pin).is_ok() {
        match stats::open_pinned(&pin) {
            Ok(_) => tracing::info!("XDP: reusing pinned counters {}", pin.display()),
            Err(e) => {
                tracing::warn!("XDP: replacing pinned map {}: {e}", pin.display());
                fs::remove_file(&pin).map_err(pin_dir_error(&pin))?;
            }
        }
    }
    for name in GUARD_MAPS.into_iter().chain(IF_MAPS) {
        let pin = dir.join(name);
        if fs::symlink_metadata(&pin).is_err() {
            continue;
        }
        if let Err(why) = super::guard::check_pinned_layout(name, &pin) {
            tracing::warn!("XDP: replacing pinned map {}: {why}", pin.display());
            fs::remove_file(&pin).map_err(pin_dir_error(&pin))?;
        }
    }
    Ok(())
}

/// Attaches in the configured mode; `auto` tries native first, then generic.
fn attach(program: &mut Xdp, iface: &XdpInterface) -> Result<AttachedMode, EbpfError> {
    let name = iface.name.as_str();
    let failed = |mode, source| EbpfError::Attach {
        interface: name.to_owned(),
        mode,
        source,
    };
    // aya turns the name into a C string with unwrap().
    if name.contains('\0') {
        let unknown = ProgramError::UnknownInterface { name: name.into() };
        return Err(failed("any mode", unknown));
    }
    let mode = match iface.mode {
        XdpMode::Native => program
            .attach(name, AyaMode::Driver)
            .map(|_| AttachedMode::Native)
            .map_err(|e| failed("native mode", e))?,
        XdpMode::Generic => program
            .attach(name, AyaMode::Skb)
            .map(|_| AttachedMode::Generic)
            .map_err(|e| failed("generic mode", e))?,
        XdpMode::Auto => match program.attach(name, AyaMode::Driver) {
            Ok(_) => AttachedMode::Native,
            Err(native) => {
                program
                    .attach(name, AyaMode::Skb)
                    .map_err(|e| failed("native then generic mode", e))?;
                tracing::warn!(
                    "XDP attached to {name} in generic mode (native mode failed: {native})"
                );
                return Ok(AttachedMode::Generic);
            }
        },
    };
    tracing::info!("XDP attached to {name} in {} mode", mode.name());
    Ok(mode)
}
