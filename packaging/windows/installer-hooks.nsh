; Postroom's steps in the NSIS installer the Tauri bundler writes (bundle > windows > nsis > installerHooks).
; The system service, when it is on, runs postroomd.exe from the installation folder:
; - an update stops it before the files are replaced (a running program's file cannot be) and starts it
;   again afterwards (sc.exe start fails harmlessly when it was never turned on);
; - uninstalling removes it and its firewall rule first, so Windows does not try to start a program that
;   is gone. Its mail stays in %ProgramData%\Postroom, as removing the .deb keeps /var/lib/postroom.

!macro NSIS_HOOK_PREINSTALL
  nsExec::ExecToLog '"$SYSDIR\sc.exe" stop postroomd'
  Pop $0
  Sleep 2000
!macroend

!macro NSIS_HOOK_POSTINSTALL
  nsExec::ExecToLog '"$SYSDIR\sc.exe" start postroomd'
  Pop $0
!macroend

!macro NSIS_HOOK_PREUNINSTALL
  nsExec::ExecToLog '"$INSTDIR\postroomd.exe" service disable'
  Pop $0
!macroend

!macro NSIS_HOOK_POSTUNINSTALL
!macroend
