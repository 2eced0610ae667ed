//! bandwidth.lua's sandbox on arbitrary scripts, and VPOP3's examples on arbitrary parameters: nothing
//! panics or aborts (the memory cap holds under ASan), every call ends (the budget stops loops), and a
//! verdict is always a valid limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postroom_engine::bandwidth::script::examples::{EXTERNAL_LIMITED, THE_BOSS, TIME_OF_DAY};
use postroom_engine::bandwidth::script::{Params, Script, Verdict};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    if mode % 2 == 0 {
        // Any script: compiled (its top level runs under the budget), then called.
        if let Ok(script) = Script::compile(&text) {
            check(script.call(&Params { clientip: "203.0.113.5".into(), ..Params::default() }));
        }
        return;
    }
    // The examples, with whatever a client could put in the parameters it controls.
    let (ip, user) = text.split_once('\n').unwrap_or((&text, ""));
    let params = Params { clientip: ip.into(), username: user.into(), servertype: "POP3".into(), ..Params::default() };
    for example in [EXTERNAL_LIMITED, THE_BOSS, TIME_OF_DAY] {
        let script = Script::compile(example).expect("the examples compile");
        let verdict = script.call(&params).expect("the examples answer whatever the parameters");
        assert!(matches!(verdict, Verdict::NoLimit | Verdict::Pool(1) | Verdict::Pool(2)), "{verdict:?}");
    }
});

fn check(result: Result<Verdict, String>) {
    if let Ok(v) = result {
        match v {
            Verdict::Rate(r) => assert!((1..=999_999_999).contains(&r)),
            Verdict::Pool(p) => assert!((1..=1000).contains(&p)),
            Verdict::NoLimit => {}
        }
    }
}
