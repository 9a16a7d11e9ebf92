//! Which vector instructions the quantized single-token kernels (`q4.rs`, `q8.rs`) use,
//! chosen at run time from what the CPU has.
//!
//! Release builds target x86-64-v3 (AVX2, FMA; `.cargo/config.toml`), so one binary runs on
//! every server with AVX2. Where a CPU also has AVX-512 with VNNI, the Q4_1 kernel takes a
//! wider path: four rows of a block in one register, one instruction for each 64 byte products.
//! The choice is made once per loaded model (`llm.kernels`, default `auto`) and can be capped
//! for a whole process tree with `PARLA_MAX_KERNELS` (`avx2` makes an AVX-512 machine run what
//! an AVX2-only machine runs; the test suite uses it to cover both on one machine).

use serde::{Deserialize, Serialize};

/// The environment variable that caps the kernels of every model a process loads.
pub const MAX_KERNELS_ENV: &str = "PARLA_MAX_KERNELS";

/// The `llm.kernels` setting: which instructions the quantized kernels may use.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Kernels {
    /// Plain Rust, no vector intrinsics (the reference the others are tested against).
    Scalar,
    /// AVX2 and FMA: the baseline of x86-64 builds.
    Avx2,
    /// AVX-512 (F, BW, VL) with VNNI where the CPU has it; else refused at load.
    Avx512,
    /// The widest this CPU has, within `PARLA_MAX_KERNELS`.
    #[default]
    Auto,
}

impl Kernels {
    /// The name used in settings, logs and `PARLA_MAX_KERNELS`.
    pub fn name(self) -> &'static str {
        match self {
            Kernels::Scalar => "scalar",
            Kernels::Avx2 => "avx2",
            Kernels::Avx512 => "avx512",
            Kernels::Auto => "auto",
        }
    }

    /// Every concrete path, narrowest first.
    pub const PATHS: [Kernels; 3] = [Kernels::Scalar, Kernels::Avx2, Kernels::Avx512];

    /// Whether this CPU can run the path (`Auto` always can).
    pub fn supported(self) -> bool {
        match self {
            Kernels::Scalar | Kernels::Auto => true,
            Kernels::Avx2 => has_avx2(),
            Kernels::Avx512 => has_avx512(),
        }
    }

    /// The widest path this CPU runs.
    pub fn widest() -> Kernels {
        if has_avx512() {
            Kernels::Avx512
        } else if has_avx2() {
            Kernels::Avx2
        } else {
            Kernels::Scalar
        }
    }

    fn parse(s: &str) -> Option<Kernels> {
        match s.trim().to_ascii_lowercase().as_str() {
            "scalar" => Some(Kernels::Scalar),
            "avx2" => Some(Kernels::Avx2),
            "avx512" => Some(Kernels::Avx512),
            "auto" | "" => Some(Kernels::Auto),
            _ => None,
        }
    }

    /// The cap from `PARLA_MAX_KERNELS`, if set.
    pub fn cap_from_env() -> Result<Option<Kernels>, String> {
        match std::env::var(MAX_KERNELS_ENV) {
            Err(_) => Ok(None),
            Ok(v) => match Kernels::parse(&v) {
                Some(Kernels::Auto) => Ok(None),
                Some(k) => Ok(Some(k)),
                None => Err(format!(
                    "{MAX_KERNELS_ENV}={v:?} is not one of scalar, avx2, avx512, auto"
                )),
            },
        }
    }

    /// The concrete path (never `Auto`) for this setting on this CPU, within `cap`. A path
    /// the CPU lacks is an error naming what it has, never a crash on an illegal instruction.
    pub fn resolve(self, cap: Option<Kernels>) -> Result<Kernels, String> {
        self.simd(cap).map(|simd| match simd {
            Simd::Avx512 => Kernels::Avx512,
            Simd::Avx2 => Kernels::Avx2,
            Simd::Scalar => Kernels::Scalar,
        })
    }

    /// The kernel path for this setting on this CPU, within `cap` (see [`Kernels::resolve`]).
    pub(crate) fn simd(self, cap: Option<Kernels>) -> Result<Simd, String> {
        let cap = cap.unwrap_or(Kernels::Avx512);
        let chosen = match self {
            Kernels::Auto => Kernels::widest().min(cap),
            k if k > cap => {
                return Err(format!(
                    "llm.kernels = {} is above {MAX_KERNELS_ENV}={}; lower one of them",
                    k.name(),
                    cap.name()
                ))
            }
            k if !k.supported() => {
                return Err(format!(
                    "llm.kernels = {} needs instructions this CPU lacks (widest here: {}); \
                     set llm.kernels = \"auto\"",
                    k.name(),
                    Kernels::widest().name()
                ))
            }
            k => k,
        };
        Ok(match chosen {
            Kernels::Avx512 => Simd::Avx512,
            Kernels::Avx2 => Simd::Avx2,
            _ => Simd::Scalar,
        })
    }
}

/// A resolved kernel path: only constructed for instructions this CPU has (`Kernels::resolve`),
/// which is what makes the `unsafe` calls into `#[target_feature]` functions sound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Simd {
    Scalar,
    Avx2,
    Avx512,
}

impl Simd {
    /// Every path this CPU runs, narrowest first (for tests that check each one).
    #[cfg(test)]
    pub(crate) fn every_path_here() -> Vec<Simd> {
        let paths: Vec<Simd> = Kernels::PATHS
            .iter()
            .filter(|k| k.supported())
            .filter_map(|k| k.simd(None).ok())
            .collect();
        eprintln!("kernel paths checked: {paths:?}");
        paths
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Simd::Scalar => "scalar",
            Simd::Avx2 => "avx2",
            Simd::Avx512 => "avx512",
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

#[cfg(not(target_arch = "x86_64"))]
fn has_avx2() -> bool {
    false
}

#[cfg(target_arch = "x86_64")]
fn has_avx512() -> bool {
    has_avx2()
        && std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("avx512vnni")
}

#[cfg(not(target_arch = "x86_64"))]
fn has_avx512() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_takes_the_widest_within_the_cap() {
        let widest = Kernels::widest();
        assert_eq!(Kernels::Auto.resolve(None).unwrap(), widest);
        assert_eq!(
            Kernels::Auto.simd(Some(Kernels::Scalar)).unwrap(),
            Simd::Scalar
        );
        let capped = Kernels::Auto.simd(Some(Kernels::Avx2)).unwrap();
        assert_ne!(capped, Simd::Avx512);
    }

    #[test]
    fn a_path_above_the_cap_or_the_cpu_is_refused_with_a_hint() {
        let err = Kernels::Avx512.resolve(Some(Kernels::Avx2)).unwrap_err();
        assert!(err.contains("PARLA_MAX_KERNELS=avx2"), "{err}");
        if !Kernels::Avx512.supported() {
            let err = Kernels::Avx512.resolve(None).unwrap_err();
            assert!(err.contains("auto"), "{err}");
        }
        assert_eq!(Kernels::Scalar.simd(None).unwrap(), Simd::Scalar);
    }

    #[test]
    fn names_parse_back() {
        for k in Kernels::PATHS {
            assert_eq!(Kernels::parse(k.name()), Some(k));
        }
        assert_eq!(Kernels::parse("AVX2 "), Some(Kernels::Avx2));
        assert_eq!(Kernels::parse("sse"), None);
    }
}
