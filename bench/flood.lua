-- wrk script: sign in with wrong passwords as fast as possible (random usernames).
-- Arguments: the session cookie and its CSRF token (one anonymous session is enough).
local cookie, token
function init(args)
  cookie, token = args[1], args[2]
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end
function request()
  local body = "csrf_token=" .. token .. "&username=flood" .. math.random(1, 1e9)
    .. "&password=wrong-password-123"
  return wrk.format("POST", "/login", {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = cookie,
  }, body)
end
