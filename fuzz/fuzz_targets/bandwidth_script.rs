//! bandwidth.lua's sandbox on arbitrary scripts, and VPOP3's examples on arbitrary parameters: nothing
//! panics or aborts (the memory cap holds under ASan), every call ends (the budget stops loops), and a
//! verdict is always a valid limit.
//! The first byte is the mode: 0 (mod 4) the rest is a script, 1 the rest is a client address and a user
//! name for the examples; 2 and 3 the same, generated from the rest as choices (a table nested 100,000
//! deep, string.rep with a huge count, deep source nesting, deep recursion…; a megabyte-long address or
//! name: see postroom_fuzz::shapes::script).
#![no_main]

use libfuzzer_sys::fuzz_target;
use postroom_engine::bandwidth::script::examples::{EXTERNAL_LIMITED, THE_BOSS, TIME_OF_DAY};
use postroom_engine::bandwidth::script::{Params, Script, Verdict};
use postroom_fuzz::{on_worker_stack, shapes, Gen};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let text = match mode % 4 {
        0 | 1 => String::from_utf8_lossy(rest).into_owned(),
        2 => shapes::script::generate(&mut Gen::new(rest)),
        _ => {
            let (ip, user) = shapes::script::params(&mut Gen::new(rest));
            format!("{ip}\n{user}")
        }
    };
    on_worker_stack(|| run(mode, &text));
});

fn run(mode: u8, text: &str) {
    if mode % 2 == 0 {
        // Any script: compiled (its top level runs under the budget), then called.
        if let Ok(script) = Script::compile(text) {
            check(script.call(&Params { clientip: "203.0.113.5".into(), ..Params::default() }));
        }
        return;
    }
    // The examples, with whatever a client could put in the parameters it controls.
    // As the server can pass them: an address as text (at most 45 characters, IPv6's longest) and a
    // login name of at most 255 bytes (longer ones are refused before any script is asked).
    let (ip, user) = text.split_once('\n').unwrap_or((text, ""));
    let cut = |s: &str, n: usize| s.char_indices().take_while(|(i, c)| i + c.len_utf8() <= n).map(|(_, c)| c).collect::<String>();
    let (ip, user) = (cut(ip, 45), cut(user, 255));
    let (ip, user) = (ip.as_str(), user.as_str());
    let params = Params { clientip: ip.into(), username: user.into(), servertype: "POP3".into(), ..Params::default() };
    for example in [EXTERNAL_LIMITED, THE_BOSS, TIME_OF_DAY] {
        let script = Script::compile(example).expect("the examples compile");
        let verdict = script.call(&params).expect("the examples answer whatever the parameters");
        assert!(matches!(verdict, Verdict::NoLimit | Verdict::Pool(1) | Verdict::Pool(2)), "{verdict:?}");
    }
}

fn check(result: Result<Verdict, postroom_engine::bandwidth::script::ScriptError>) {
    if let Ok(v) = result {
        match v {
            Verdict::Rate(r) => assert!((1..=999_999_999).contains(&r)),
            Verdict::Pool(p) => assert!((1..=1000).contains(&p)),
            Verdict::NoLimit => {}
        }
    }
}
