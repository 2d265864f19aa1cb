# Installs the Vigia probe as a Windows service (VigiaProbe). From the unzipped folder, in a
# PowerShell opened with "Run as administrator":
#
#   powershell -ExecutionPolicy Bypass -File .\install.ps1
#
# First run: copies the program and an example probe.toml, then stops so you can edit it.
# Second run (after editing probe.toml and copying the certificates): checks the configuration
# and installs and starts the service. Running it again later upgrades the program.
param(
    # Run the service as this account (.\user or DOMAIN\user) instead of LocalSystem.
    [string]$Account = ""
)
$ErrorActionPreference = "Stop"
$bin = Join-Path $env:ProgramFiles "Vigia"
$data = Join-Path $env:ProgramData "Vigia"
$exe = Join-Path $bin "vigia-probe.exe"
$config = Join-Path $data "probe.toml"
$certs = Join-Path $data "certs"

New-Item -ItemType Directory -Force -Path $bin, $data, $certs | Out-Null
# Only SYSTEM and administrators may read the probe's private key.
icacls $certs /inheritance:r /grant:r "SYSTEM:(OI)(CI)F" "Administrators:(OI)(CI)F" | Out-Null

if (Test-Path $exe) {
    & $exe service status *> $null
    if ($LASTEXITCODE -eq 0) { & $exe service stop *> $null }
}
Copy-Item -Force (Join-Path $PSScriptRoot "vigia-probe.exe") $exe

if (-not (Test-Path $config)) {
    Copy-Item (Join-Path $PSScriptRoot "probe.toml") $config
    Write-Host "Next: edit $config (site, recorders, collector url),"
    Write-Host "copy ca.pem, SITE.pem and SITE.key into $certs, then run this script again."
    exit 1
}

& $exe --config $config check-config
if ($LASTEXITCODE -ne 0) {
    Write-Host "check-config found a problem (above): fix it, then run this script again."
    exit $LASTEXITCODE
}

& $exe service status *> $null
if ($LASTEXITCODE -ne 0) {
    if ($Account -ne "") {
        $secure = Read-Host "Password for $Account" -AsSecureString
        $env:VIGIA_SERVICE_PASSWORD = [System.Net.NetworkCredential]::new("", $secure).Password
        & $exe --config $config service install --account $Account --password-env VIGIA_SERVICE_PASSWORD
        Remove-Item Env:\VIGIA_SERVICE_PASSWORD
    } else {
        & $exe --config $config service install
    }
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
}
& $exe service start
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
Write-Host "VigiaProbe is running. Log: $(Join-Path $data 'vigia-probe.log')"
