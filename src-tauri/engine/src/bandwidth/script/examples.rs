//! The three examples of VPOP3's bandwidth article, with the lines lost in its copy restored (the
//! `else`/`end` lines, `os.date` in `t = os.date("*t")`); used by the tests and the benchmark.

pub const EXTERNAL_LIMITED: &str = r#"
function GetBandwidth(params)
-- pool '1' is set to the limited pool
-- This function either returns unlimited for local users (192.168.x.y), or '-1' to assign external users to pool 1
  if string.find(params["clientip"], "^192%.168%.") then
    return 0; -- unlimited
  else
    return -1; -- use pool 1
  end
end
"#;

pub const THE_BOSS: &str = r#"
function GetBandwidth(params)
-- pool '1' is set to the limited pool
-- This function either returns unlimited for connections from 'theboss', or '-1' to assign other users to the limited pool
  if params["username"] == "theboss" then
    return 0; -- unlimited
  else
    return -1; -- use pool 1
  end
end
"#;

pub const TIME_OF_DAY: &str = r#"
function GetBandwidth(params)
-- pool '1' is set to the daytime limited pool
-- pool '2' is the evening limited pool
-- This function either returns unlimited for local users (192.168.x.y), or the boss, or '-1' or '-2' to assign external users to the relevant pool
  if string.find(params["clientip"], "^192%.168%.") or params["username"] == "theboss" then
    return 0; -- unlimited
  else -- limited users
    t = os.date("*t");
    if (t.hour >= 18) or (t.hour == 17 and t.min >= 30) or (t.hour < 8) or (t.wday == 6) or (t.wday == 0) then
      return -2; -- use pool 2 after 5:30pm or before 8am or at weekends
    else
      return -1; -- use pool 1 at other times of day
    end
  end
end
"#;
