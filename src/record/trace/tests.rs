use super::*;
use crate::core::types::{IfIndex, VifIndex};

fn add_vif(vif: u16) -> MrtAction {
    MrtAction::AddVif {
        vif: VifIndex(vif),
        ifindex: IfIndex(u32::from(vif) + 10),
    }
}

fn del_vif(vif: u16) -> MrtAction {
    MrtAction::DelVif {
        vif: VifIndex(vif),
        ifindex: IfIndex(u32::from(vif) + 10),
    }
}

/// A replayed step of `run` with these inputs and `mrt` outputs.
fn step(run: usize, n: usize, inputs: Vec<Input>, actions: &[MrtAction]) -> Replayed {
    Replayed {
        run,
        line: n + run,
        step: n,
        t_ns: 0,
        inputs,
        outputs: actions.iter().copied().map(Output::Mrt).collect(),
        recorded: None,
    }
}

fn rejected(action: MrtAction, error: &str) -> Input {
    Input::KernelRejected {
        action,
        error: error.to_owned(),
    }
}

/// Writes `runs` of entries as a daemon would, and reads them back.
fn written(runs: &[(&[Entry], bool)]) -> Vec<Run> {
    let dir = std::env::temp_dir().join(format!(
        "mgmd-trace-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let path = dir.with_extension("kernel");
    let _ = std::fs::remove_file(&path);
    for (entries, ended) in runs {
        let mut t = Trace::create(&path).unwrap();
        for e in *entries {
            t.entry(e).unwrap();
        }
        if *ended {
            t.entry(&Entry::End).unwrap();
        }
        t.flush().unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    read(&path, text.as_bytes()).unwrap()
}

fn check(runs: Vec<Run>, steps: &[Replayed], total_runs: usize) -> Result<Checked, String> {
    let mut c = Check::new(Path::new("t.kernel"), runs);
    for s in steps {
        c.step(s).map_err(|e| e.to_string())?;
    }
    c.finish(total_runs).map_err(|e| e.to_string())
}

#[test]
fn entries_are_written_and_read_back_per_run() {
    let refused = Entry::Refused {
        action: add_vif(1),
        error: "no".into(),
    };
    let runs = written(&[
        (&[Entry::Applied(add_vif(0)), refused.clone()], true),
        (&[Entry::Applied(add_vif(2))], false),
    ]);
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].line, 1);
    let entries: Vec<_> = runs[0].entries.iter().map(|e| e.1.clone()).collect();
    assert_eq!(entries, [Entry::Applied(add_vif(0)), refused]);
    assert!(runs[0].ended);
    assert_eq!(runs[1].line, 5);
    assert!(!runs[1].ended);
}

#[test]
fn a_line_cut_short_ends_its_run_and_the_next_header_follows_it() {
    let text = "{\"mgmd-kernel-trace\":1}\n{\"applied\":{\"add-vif\":{\"vif\":0,\"ifindex\":10}}}\n\
                {\"appl{\"mgmd-kernel-trace\":1}\n\"end\"\n{\"applied\":{\"add-v";
    let runs = read(Path::new("t"), text.as_bytes()).unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].entries.len(), 1);
    assert!(!runs[0].ended);
    assert!(runs[1].entries.is_empty());
    assert!(runs[1].ended);
    let e = read(Path::new("t"), "{\"applied\":1}\n".as_bytes()).unwrap_err();
    assert!(e.to_string().contains("t:1: not a trace entry"), "{e}");
}

#[test]
fn a_trace_that_is_the_outputs_passes() {
    let refused = Entry::Refused {
        action: add_vif(1),
        error: "File exists".into(),
    };
    let runs = written(&[(&[Entry::Applied(add_vif(0)), refused], true), (&[], true)]);
    let steps = [
        step(1, 1, vec![], &[add_vif(0), add_vif(1)]),
        step(1, 2, vec![rejected(add_vif(1), "File exists")], &[]),
        step(2, 1, vec![], &[]),
    ];
    let c = check(runs, &steps, 2).unwrap();
    assert_eq!(
        c,
        Checked {
            runs: 2,
            actions: 2,
            refusals: 1,
            ..Checked::default()
        }
    );
}

#[test]
fn a_different_action_is_named_with_its_run_and_position() {
    let runs = written(&[(
        &[Entry::Applied(add_vif(0)), Entry::Applied(add_vif(2))],
        true,
    )]);
    let steps = [step(1, 1, vec![], &[add_vif(0), add_vif(1)])];
    let e = check(runs, &steps, 1).unwrap_err();
    assert!(
        e.starts_with("t.kernel:3: run 1: action 2: step 1 (line 2) asked for"),
        "{e}"
    );
    assert!(
        e.contains("\"vif\":1") && e.contains("the kernel writer applied"),
        "{e}"
    );
}

#[test]
fn a_run_that_ended_holds_every_action_and_no_more() {
    let short = written(&[(&[Entry::Applied(add_vif(0))], true)]);
    let steps = [step(1, 1, vec![], &[add_vif(0), del_vif(0)])];
    let e = check(short, &steps, 1).unwrap_err();
    assert!(
        e.contains("action 2") && e.contains("trace ends before it"),
        "{e}"
    );

    let long = written(&[(
        &[Entry::Applied(add_vif(0)), Entry::Applied(del_vif(0))],
        true,
    )]);
    let steps = [step(1, 1, vec![], &[add_vif(0)])];
    let e = check(long, &steps, 1).unwrap_err();
    assert!(e.contains("never asked for"), "{e}");
}

#[test]
fn a_run_cut_off_may_stop_short_but_not_differ() {
    let runs = written(&[(&[Entry::Applied(add_vif(0))], false), (&[], true)]);
    let steps = [
        step(1, 1, vec![], &[add_vif(0), add_vif(1), add_vif(2)]),
        step(2, 1, vec![], &[]),
    ];
    let c = check(runs, &steps, 2).unwrap();
    assert_eq!((c.cut_off, c.not_reached), (1, 2));

    let runs = written(&[(&[Entry::Applied(add_vif(1))], false)]);
    let steps = [step(1, 1, vec![], &[add_vif(0)])];
    assert!(check(runs, &steps, 1).is_err());
}

#[test]
fn every_recorded_refusal_is_the_traces_next_one() {
    let skipped = Entry::Skipped {
        action: add_vif(1),
        error: "not attempted".into(),
    };
    let runs = || written(&[(&[Entry::Applied(add_vif(0)), skipped.clone()], true)]);
    let asked = || step(1, 1, vec![], &[add_vif(0), add_vif(1)]);

    // Heard: fine. Not heard (the daemon stopped first): counted.
    let heard = step(1, 2, vec![rejected(add_vif(1), "not attempted")], &[]);
    assert_eq!(check(runs(), &[asked(), heard], 1).unwrap().unheard, 0);
    assert_eq!(check(runs(), &[asked()], 1).unwrap().unheard, 1);

    // A refusal the trace does not have, or says otherwise.
    let other = step(1, 2, vec![rejected(add_vif(1), "File exists")], &[]);
    let e = check(runs(), &[asked(), other], 1).unwrap_err();
    assert!(e.contains("the trace's next refusal is skipped"), "{e}");
    let twice = step(
        1,
        2,
        vec![
            rejected(add_vif(1), "not attempted"),
            rejected(add_vif(1), "not attempted"),
        ],
        &[],
    );
    let e = check(runs(), &[asked(), twice], 1).unwrap_err();
    assert!(e.contains("no refusal left"), "{e}");

    // A refusal before the router asked for the action.
    let early = step(1, 1, vec![rejected(add_vif(1), "not attempted")], &[]);
    let e = check(runs(), &[early], 1).unwrap_err();
    assert!(e.contains("before the router asked for it"), "{e}");
}

#[test]
fn the_trace_has_the_recordings_runs() {
    let one = || written(&[(&[], true)]);
    let e = check(one(), &[step(2, 1, vec![], &[])], 2).unwrap_err();
    assert!(
        e.contains("the recording has run 2 and the trace has 1 run(s)"),
        "{e}"
    );
    let e = check(one(), &[], 2).unwrap_err();
    assert!(e.contains("the recording has run 2"), "{e}");
    let e = check(written(&[(&[], true), (&[], true)]), &[], 1).unwrap_err();
    assert!(
        e.contains("the trace has 2 runs and the recording 1"),
        "{e}"
    );
    // A run without steps has no actions.
    assert_eq!(check(one(), &[], 1).unwrap().runs, 1);
}
