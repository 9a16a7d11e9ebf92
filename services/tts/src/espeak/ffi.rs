//! The few functions of eSpeak NG's C API (`speak_lib.h`) that Parla uses,
//! declared by hand. Linked against `libespeak-ng` (Debian
//! `libespeak-ng-dev`).

use std::os::raw::{c_char, c_int, c_short, c_uint, c_void};

/// `AUDIO_OUTPUT_SYNCHRONOUS`: `espeak_Synth` returns once all audio has
/// been passed to the callback.
pub const AUDIO_OUTPUT_SYNCHRONOUS: c_int = 2;
/// `espeakCHARS_UTF8`.
pub const CHARS_UTF8: c_int = 1;
/// `espeakINITIALIZE_DONT_EXIT`: do not call `exit()` on a fatal error.
pub const INITIALIZE_DONT_EXIT: c_int = 0x8000;
/// `espeakPHONEMES_IPA` for `espeak_TextToPhonemes`.
pub const PHONEMES_IPA: c_int = 0x02;
/// `POS_CHARACTER`.
pub const POS_CHARACTER: c_int = 1;
/// `EE_OK`.
pub const EE_OK: c_int = 0;

/// `espeak_PARAMETER` values.
pub const PARAM_RATE: c_int = 1;
/// Volume 0..=200.
pub const PARAM_VOLUME: c_int = 2;
/// Base pitch 0..=100.
pub const PARAM_PITCH: c_int = 3;
/// Pitch range 0..=100.
pub const PARAM_RANGE: c_int = 4;
/// Pause between words in units of 10 ms.
pub const PARAM_WORDGAP: c_int = 7;

/// `espeak_EVENT`; only its `type` and `user_data` are read.
#[repr(C)]
pub struct EspeakEvent {
    /// `espeak_EVENT_TYPE`.
    pub kind: c_int,
    /// Message id.
    pub unique_identifier: c_uint,
    /// Characters from the start of the text.
    pub text_position: c_int,
    /// Word length.
    pub length: c_int,
    /// Time in ms.
    pub audio_position: c_int,
    /// Internal.
    pub sample: c_int,
    /// The pointer given to `espeak_Synth`.
    pub user_data: *mut c_void,
    /// Event id union (8 bytes, pointer-aligned).
    pub id: *const c_char,
}

/// `t_espeak_callback`.
pub type SynthCallback =
    unsafe extern "C" fn(wav: *mut c_short, numsamples: c_int, events: *mut EspeakEvent) -> c_int;

#[link(name = "espeak-ng")]
extern "C" {
    pub fn espeak_Initialize(
        output: c_int,
        buflength: c_int,
        path: *const c_char,
        options: c_int,
    ) -> c_int;
    pub fn espeak_SetSynthCallback(callback: SynthCallback);
    pub fn espeak_SetVoiceByName(name: *const c_char) -> c_int;
    pub fn espeak_SetParameter(parameter: c_int, value: c_int, relative: c_int) -> c_int;
    pub fn espeak_Synth(
        text: *const c_void,
        size: usize,
        position: c_uint,
        position_type: c_int,
        end_position: c_uint,
        flags: c_uint,
        unique_identifier: *mut c_uint,
        user_data: *mut c_void,
    ) -> c_int;
    pub fn espeak_TextToPhonemes(
        textptr: *mut *const c_void,
        textmode: c_int,
        phonememode: c_int,
    ) -> *const c_char;
}
